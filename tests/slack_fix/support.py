"""What the Slack-fix tests share: the drifting worker, and clicks on its alert signed as Slack signs them."""

from sqlalchemy import func, select

from guard.core.snapshot import WorkerKey
from tests.fakes.slack_clicks import click_payload, signed_click
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID, worker_sid

DRIFTING = worker_sid(1)
KEY = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, DRIFTING)
REFERENCE = f"{ACCOUNT_SID}/{WORKSPACE_SID}/{DRIFTING}"


def click(client, action_id="remove_contact_uri", value=REFERENCE, number=1, slack=None, **options):
    """Post one signed click; `number` picks its response_url."""
    body, headers = signed_click(click_payload(action_id, value, slack.response_url(number), **options))
    return client.post("/slack/interactions", data=body, headers=headers)


def rows(services, table):
    """How many rows `table` holds."""
    with services.store.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar()

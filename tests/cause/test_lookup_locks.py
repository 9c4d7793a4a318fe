"""PostgreSQL: an answer to a lookup and a batch that voids it take the worker's lock first, so never deadlock."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from guard.adapters.causes import CauseLookups
from guard.adapters.tables import cause_lookup
from tests.cause.test_away import BASE, HEALTHY, SCRIPT, stream_event
from tests.helpers import WORKSPACE_SID, post_cloudevents, worker_sid

WRONG = {**BASE, "team": "north", "contact_uri": "sip:ann@pbx.example.com"}


def waiting_on_a_lock(engine) -> bool:
    """True once another backend waits on a lock (the answer, behind the batch)."""
    with engine.connect() as connection:
        query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        return connection.execute(text(query)).scalar() > 0


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_answer_racing_the_batch_that_voids_its_lookup_does_not_deadlock(client, services, fake_api, monkeypatch):
    t = int(time.time() * 1000)
    post_cloudevents(client, [stream_event(HEALTHY, t - 50_000)])
    post_cloudevents(client, [stream_event({**BASE, "team": "north"}, t - 30_000)])  # removed while away
    fake_api.add_event(WORKSPACE_SID, "worker.attributes.update", worker_sid(1), at_ms=t - 30_000, actor_sid=SCRIPT)
    causes = services.store.causes
    request = causes.claim(services.pipeline.clock(), timedelta(seconds=60))
    reached, go, result = threading.Event(), threading.Event(), {}
    void_unpaged = CauseLookups.void_unpaged

    def held_before_the_void(self, keys, now):
        """The batch has written the worker's state; it voids the lookup once the answer is under way."""
        reached.set()
        go.wait(30)
        return void_unpaged(self, keys, now)

    monkeypatch.setattr(CauseLookups, "void_unpaged", held_before_the_void)
    batch = threading.Thread(  # a wrong value by someone else: a newer change, so the lookup is voided
        target=lambda: result.setdefault("batch", post_cloudevents(client, [stream_event(WRONG, t - 10_000)]))
    )
    batch.start()
    assert reached.wait(30)

    def answer():
        try:
            result["finish"] = causes.finish(request, "found", None, "", services.pipeline.clock())
        except Exception as err:  # noqa: BLE001 - the deadlock, if any, is what the test looks for
            result["finish"] = err

    answering = threading.Thread(target=answer)
    answering.start()
    while not waiting_on_a_lock(services.store.engine) and answering.is_alive():
        go.wait(0.02)  # until the answer waits behind the batch
    go.set()
    batch.join(30)
    answering.join(30)
    assert result["batch"].status_code < 300 and not isinstance(result["finish"], Exception)
    with services.store.engine.connect() as connection:
        statuses = connection.execute(select(cause_lookup.c.status).order_by(cause_lookup.c.id)).scalars().all()
    assert statuses[0] == "void"

"""One call to judge a worker in tests, with the rules spelled as keywords."""

from typing import Any

from guard.core.evidence import Policy
from guard.core.ignore import NO_RULES, IgnoreRules
from guard.core.rules import Rules
from guard.core.verdict import Verdict


def judge(
    attributes: dict[str, Any],
    worker_sid: str = "",
    ignore: IgnoreRules = NO_RULES,
    *,
    worker_name: str = "",
    policy: Policy = Policy.FLEX,
) -> Verdict:
    """The verdict under IGNORE_WORKERS `ignore` and IDENTITY_POLICY `policy`."""
    return Rules(ignore, policy).judge(attributes, worker_sid, worker_name)

"""The one sentence at the top of /status: all clear only when nothing the guard knows says otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REFUSED = (
    "{refused} callback{s} refused for a bad signature since the start and none accepted: check PUBLIC_BASE_URL "
    "and TRUST_PROXY (Twilio signs the URL it calls)."
)


@dataclass(frozen=True)
class Headline:
    """The headline's state (`ok`, `warn` or `bad`, a CSS class suffix) and its text."""

    state: str
    text: str


def headline(unreachable: int, drifting: int, workers: int, health: dict[str, Any], intake: dict[str, int]) -> Headline:
    """What the page says first, from the state's counts, the health figures and this start's intake outcomes.

    An all-clear needs workers judged, callbacks that verify, and no later audit that found drift the state lacks.
    """
    refused, verified = intake.get("bad_signature", 0), intake.get("accepted", 0) + intake.get("ignored", 0)
    refusals = REFUSED.format(refused=refused, s="" if refused == 1 else "s") if refused and not verified else ""
    failed = health["failed_deliveries"]
    if unreachable or drifting or failed:
        parts = [f"{unreachable} available now but cannot take calls; " if unreachable else ""]
        parts.append(f"{drifting} worker{'' if drifting == 1 else 's'} in drift")
        parts.append(f", {failed} failed alert deliveries." if failed else ".")
        return Headline("bad", " ".join(filter(None, ("".join(parts), refusals))))
    if refusals:
        return Headline("bad", refusals)
    if not workers:
        return Headline(
            "warn", "No worker seen yet: nothing judged (point TaskRouter or Event Streams here, or audit)."
        )
    audit = health.get("last_audit")
    if audit and audit["exit_code"] != 0:
        found = audit["counts"].get("mismatch", 0)
        return Headline(
            "warn",
            f"No drift in the events, but the last audit exited {audit['exit_code']} ({found} mismatch): see its "
            "report, or audit with --alert to record what it finds.",
        )
    return Headline("ok", "All agents' contact_uri values are as Flex derives them.")

"""The one sentence at the top of /status: all clear only when nothing the guard knows says otherwise."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

REFUSED = (
    "{refused} callback{s} refused for a bad signature since the start and none accepted: if Twilio sent them, check "
    "PUBLIC_BASE_URL and TRUST_PROXY (Twilio signs the URL it calls) and the auth token it signs with."
)


@dataclass(frozen=True)
class Headline:
    """The headline's state (`ok`, `warn` or `bad`, a CSS class suffix) and its text."""

    state: str
    text: str


def headline(
    counts: tuple[int, int, int],
    failed: int,
    intake: Mapping[str, int],
    audits: Sequence[Mapping[str, Any]],
) -> Headline:
    """What the page says first, from the state's counts, failed deliveries, intake outcomes and latest audits.

    `counts`: (unreachable, drifting, workers); `intake`: since this start; `audits`: each workspace's latest.
    An all-clear needs workers judged, callbacks that verify, and no audit that found what the state lacks.
    """
    unreachable, drifting, workers = counts
    refused, verified = intake.get("bad_signature", 0), intake.get("accepted", 0) + intake.get("ignored", 0)
    refusals = REFUSED.format(refused=refused, s="" if refused == 1 else "s") if refused and not verified else ""
    if unreachable or drifting or failed:
        parts = [f"{unreachable} available now but cannot take calls; " if unreachable else ""]
        parts.append(f"{drifting} worker{'' if drifting == 1 else 's'} in drift")
        parts.append(f", {failed} failed alert deliver{'y' if failed == 1 else 'ies'}." if failed else ".")
        return Headline("bad", " ".join(filter(None, ("".join(parts), refusals))))
    if not workers:
        return Headline("warn", " ".join(filter(None, ("No worker seen yet: nothing judged.", refusals))))
    # An audit with --alert fed its verdicts to the state, which events may have changed since: the state counts.
    # A run from before migration 0012 (alerted NULL) may have been either: it warns of nothing.
    # An audit with workers it could not judge (`error`) left them unjudged, fed or not; a failed removal did not.
    found = [text for run in audits if (text := _audit_text(run, json.loads(run["counts"])))]
    if found or refusals:
        more = f" ({len(found) - 1} more workspaces too.)" if len(found) > 1 else ""
        return Headline("warn", " ".join(filter(None, (found[0] + more if found else "", refusals))))
    return Headline("ok", "All agents' contact_uri values are as Flex derives them.")


def _audit_text(run: Mapping[str, Any], counts: Mapping[str, int]) -> str:
    """What one workspace's latest audit found that the state does not say, or "" when nothing."""
    when = f"the last audit of {run['workspace_sid']} ({run['finished_at']:%Y-%m-%d %H:%M} UTC)"
    if counts.get("listing_failed"):
        return f"{when[0].upper()}{when[1:]} could not list its workers: see its error."
    if errors := counts.get("error", 0):
        workers = f"{errors} worker{'s' * (errors != 1)} in error"
        return f"{when[0].upper()}{when[1:]} did not finish cleanly ({workers}): see its report."
    if run["exit_code"] and run["alerted"] is False and (found := counts.get("mismatch", 0)):
        return (
            f"No drift in the events, but {when} found {found} mismatch: see its report, or audit with --alert to "
            "record what it finds."
        )
    return ""

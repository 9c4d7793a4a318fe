"""Render the reports of one or more workspace sweeps as a terminal table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from guard.core.cause import Cause
from guard.core.evidence import Basis, basis_text
from guard.core.text import printable, shown
from guard.core.verdict import Kind
from guard.service.audit import UNREACHABLE, VERDICTS, AuditEntry, AuditReport, combined_exit_code
from guard.service.removals import Removal

CSV_FIELDS = ("account_sid", "workspace_sid", "sid", "name", "email", "verdict", "expected", "actual", "diagnosis")
LAST_CHANGE_COLUMNS = tuple(
    f"last_change_{name}" for name in ("time", "actor_sid", "actor_type", "source", "source_ip_address", "event_sid")
)
QUIET = (Kind.OK, Kind.PENDING, Kind.IGNORED)  # verdicts the terminal table leaves out
Outcome = tuple[str, str, str]  # a removal's (account, workspace, worker): one worker SID may be in two workspaces


def totals(reports: list[AuditReport]) -> dict[str, int]:
    """Counts per verdict over every sweep, with the total first."""
    tally: Counter[str] = Counter()
    for report in reports:
        tally.update(report.counts())
    counted = (*VERDICTS, UNREACHABLE)
    return {"total": sum(len(r.entries) for r in reports), **{v: tally.get(v, 0) for v in counted}}


def basis_totals(reports: list[AuditReport]) -> dict[str, int]:
    """Workers per basis (email, twilio_contact_identity, worker_name) over every sweep."""
    tally: Counter[str] = Counter()
    for report in reports:
        tally.update(report.basis_counts())
    return {basis.value: tally.get(basis.value, 0) for basis in Basis}


def basis_suffix(counts: dict[str, int]) -> str:
    """'; identities: 1180 by email, 25 by worker name' for a summary line, leaving out kinds nobody has."""
    parts = [f"{n} by {Basis(basis).noun}" for basis, n in counts.items() if n]
    return f"; identities: {', '.join(parts)}" if parts else ""


def selected(entry: AuditEntry, only: str) -> bool:
    """Whether --only keeps this worker: all, drift (a wrong value), unreachable (available now, cannot ring).

    A worker that could not be judged (`error`) is kept under every filter: whether it drifts is not known.
    """
    return (
        only == "all"
        or entry.judged is None
        or (only == "drift" and entry.verdict == Kind.MISMATCH)
        or (only == UNREACHABLE and entry.unreachable)
    )


def rows(reports: list[AuditReport], only: str, remediation: dict[Outcome, Removal]) -> list[dict[str, Any]]:
    """One dict per reported worker, with its account, workspace and remediation outcome."""
    result = []
    for report in reports:
        for entry in report.entries:
            if not selected(entry, only):
                continue
            fields = {"account_sid": report.account_sid, "workspace_sid": report.workspace_sid, **entry.as_report()}
            fields |= _last_change(report.last_changes.get(entry.sid))
            outcome = remediation.get((report.account_sid, report.workspace_sid, entry.sid))
            if outcome:
                fields.update(remediation=outcome.status, remediation_detail=outcome.detail)
            result.append(fields)
    return result


def render_json(reports: list[AuditReport], only: str, remediation: dict[Outcome, Removal]) -> str:
    """The machine report: a combined summary, one summary per workspace, one entry per worker."""
    document = {
        "summary": totals(reports),
        "basis": basis_totals(reports),
        "exit_code": combined_exit_code(reports),
        "workspaces": [
            {
                "account_sid": r.account_sid,
                "workspace_sid": r.workspace_sid,
                "started_at": r.started_at.isoformat(),
                "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                "summary": totals([r]),
                "basis": r.basis_counts(),
                "failure": r.failure,
                "exit_code": r.exit_code,
            }
            for r in reports
        ],
        "workers": rows(reports, only, remediation),
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def render_csv(reports: list[AuditReport], only: str, remediation: dict[Outcome, Removal]) -> str:
    """One row per worker (plus remediation columns when remediating)."""
    now = ["activity", "available", "unreachable", *LAST_CHANGE_COLUMNS, "last_change_note"]
    fields = [*CSV_FIELDS, "basis", "detail", *now, *(["remediation", "remediation_detail"] if remediation else [])]
    buffer = io.StringIO()
    # Every cell quoted (OWASP): a spreadsheet whose separator is `;` must not split `Ann;=HYPERLINK(…)` into a formula
    writer = csv.DictWriter(
        buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n", quoting=csv.QUOTE_ALL
    )
    writer.writeheader()
    for row in rows(reports, only, remediation):  # the newest change of a drifting worker: a column each
        row |= {f"last_change_{name}": value for name, value in (row.get("last_change") or {}).items()}
        writer.writerow({name: _cell(value) for name, value in row.items()})
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell safe to open: one line, and no formula (a leading = + - @ quoted with ', as OWASP advises)."""
    if isinstance(value, bool):
        return "true" if value else "false"  # as JSON writes it
    if not isinstance(value, str):
        return value
    text = printable(value)
    return "'" + text if text.startswith(("=", "+", "-", "@")) else text


def render_table(reports: list[AuditReport], only: str, remediation: dict[Outcome, Removal]) -> str:
    """The non-ok workers as an aligned table, remediation lines, and one summary line per workspace."""
    # Each workspace's own: one worker SID may be in two (several accounts)
    listed = [
        (e, r.last_changes.get(e.sid)) for r in reports for e in r.entries if e.verdict not in QUIET or e.unreachable
    ]
    lines = _table(listed, only)
    several = len({workspace for _, workspace, _ in remediation}) > 1  # then each line says whose worker it is
    lines += [
        f"{o.status}: {f'{ws}/' if several else ''}{sid}{'' if o.before is None else f' contact_uri {o.before!r}'}: "
        f"{o.detail}"
        for (_, ws, sid), o in remediation.items()
    ]  # no value: none was fetched (a failure, a worker being changed by someone else), or there is none
    if remediation:
        lines.append("")
    for report in reports:
        counts = ", ".join(f"{n} {verdict}" for verdict, n in report.counts().items())
        status = f"FAILED: {report.failure}" if report.failure else counts + basis_suffix(report.basis_counts())
        lines.append(f"{len(report.entries)} workers in {report.workspace_sid}: {status}")
    if len(reports) > 1:
        lines.append(
            f"{totals(reports)['total']} workers in {len(reports)} workspaces{basis_suffix(basis_totals(reports))}"
        )
    return "\n".join(lines)


def _last_change(found: Cause | str | None) -> dict[str, Any]:
    """The newest change of a drifting worker as report fields (JSON: `last_change`; CSV: a column each)."""
    if found is None:
        return {}
    if isinstance(found, str):
        return {"last_change": None, "last_change_note": found}
    when = datetime.fromtimestamp(found.event_date_ms / 1000, UTC).isoformat() if found.event_date_ms else None
    change = {"time": when, "actor_sid": found.actor_sid, "actor_type": found.actor_type, "source": found.source}
    change |= {"source_ip_address": found.source_ip_address, "event_sid": found.event_sid}
    return {"last_change": change}


def _changed_by(row: dict[str, Any]) -> str:
    """The table's short "changed by": the actor and the source TaskRouter names."""
    change = row.get("last_change")
    if not change:
        return "—" if "last_change_note" not in row else "?"
    return f"{change['actor_sid'] or '?'} ({change['source'] or '?'})"


def _table(listed: list[tuple[AuditEntry, Cause | str | None]], only: str) -> list[str]:
    """Aligned rows for the terminal (each entry with its last change); the diagnosis column is left ragged."""
    listed = [(e, change) for e, change in listed if selected(e, only)]
    if not listed:
        return []
    header = ("VERDICT", "NOW", "WORKER", "SID", "ACTUAL", "EXPECTED", "JUDGED BY", "CHANGED BY", "DETAIL")
    reported = [e.as_report() | _last_change(change) for e, change in listed]
    table = [header] + [
        (
            r["verdict"],
            "UNREACHABLE" if r["unreachable"] else _cut(r["activity"], 20),
            _cut(shown(r["name"]), 30),
            r["sid"],
            _cut(r["actual"], 48),
            _cut(r["expected"], 48),
            basis_text(r["basis"]),
            printable(_changed_by(r)),
            printable(r["detail"]),
        )
        for r in reported
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    lines = ["  ".join([*(str(cell).ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]) for row in table]
    return [*lines, ""]


def _cut(value: str | None, width: int) -> str:
    """Shorten a cell for the terminal table."""
    text = printable(value or "—")
    return text if len(text) <= width else text[: width - 1] + "…"

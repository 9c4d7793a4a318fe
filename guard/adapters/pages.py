"""Pages (urgent alerts) in the outbox: what each waits behind, and letting them out first once Slack is back.

A worker's alerts go out in order, so a page waits behind its worker's earlier alerts; and each alert backs off on
its own, so after an outage the page that failed most would wait longest. These statements keep pages in front.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, update

from guard.adapters.db import connected
from guard.adapters.tables import alert as outbox
from guard.core.alerts import AlertKind
from guard.core.snapshot import WorkerKey
from guard.core.statuses import AlertStatus

WORKER = ("account_sid", "workspace_sid", "worker_sid")
AFTER_EVERY_PAGE = 2**62  # beyond any alert id


def _pending_of_the_same_worker(a: Any, name: str) -> tuple[Any, Any]:
    """An alias of the outbox, and its pending rows of row `a`'s worker."""
    other = outbox.alias(name)
    return other, and_(*(other.c[n] == a.c[n] for n in WORKER), other.c.status == AlertStatus.PENDING)


def is_page(a: Any) -> Any:
    """Row `a` is a page, or the resolved that answers one (`kind`: an older release writes pages without `page`)."""
    return or_(a.c.page.is_(True), a.c.kind == AlertKind.URGENT.value)


def first_of_each_worker() -> Any:
    """The id of each worker's earliest pending alert: the only one of its alerts that may go now."""
    pending = outbox.c.status == AlertStatus.PENDING
    return select(func.min(outbox.c.id)).where(pending).group_by(*(outbox.c[n] for n in WORKER))


def _earliest_pages() -> Any:
    """Each worker's earliest pending page, by id (few rows: pages only)."""
    worker = [outbox.c[n] for n in WORKER]
    pages = and_(outbox.c.status == AlertStatus.PENDING, is_page(outbox))
    return select(*worker, func.min(outbox.c.id).label("page_id")).where(pages).group_by(*worker).subquery("paged")


EARLIEST_PAGES = _earliest_pages()


def page_turn_join(a: Any) -> tuple[Any, Any]:
    """The earliest pages, joined to row `a` by its worker: read once per claim, not looked up per row."""
    return EARLIEST_PAGES, and_(*(EARLIEST_PAGES.c[n] == a.c[n] for n in WORKER))


def page_turn(_a: Any) -> Any:
    """When a row goes out: in the turn of its worker's earliest pending page, if it has one, else after every page.

    A page waits behind its worker's earlier alerts, so those go out with it; never ahead of an older page elsewhere.
    """
    return func.coalesce(EARLIEST_PAGES.c.page_id, AFTER_EVERY_PAGE)


def page_behind(a: Any) -> Any:
    """Row `a`'s worker has a later pending page: it waits for `a`."""
    page, pending = _pending_of_the_same_worker(a, "page")
    return select(page.c.id).where(pending, is_page(page), page.c.id > a.c.id).exists()


class Pages:
    """Pages and the alerts they wait behind; bound to an engine (own transaction) or a connection (the caller's)."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind

    def waits_behind(self, alert_id: int) -> bool:
        """True when this alert answers a page, or a page of the same worker waits for it: it backs off like a page."""
        query = select(outbox.c.id).where(outbox.c.id == alert_id, or_(is_page(outbox), page_behind(outbox)))
        with connected(self.bind) as connection:
            return connection.execute(query).first() is not None

    def release(self, accounts: frozenset[str] | None, now: datetime) -> int:
        """Make the pages that backed off after failed posts (and what they wait behind) due now: Slack is back.

        Of `accounts`, the ones posting to that webhook (None: every account). One that never failed (held for its
        cause) keeps waiting, and so does one another process holds.
        """
        mine = (outbox.c.account_sid.in_(accounts),) if accounts is not None else ()
        backed_off = and_(
            outbox.c.status == AlertStatus.PENDING,
            outbox.c.attempts > 0,
            outbox.c.next_attempt_at > now,
            or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
            or_(is_page(outbox), page_behind(outbox)),
            *mine,
        )
        with connected(self.bind) as connection:
            return connection.execute(update(outbox).where(backed_off).values(next_attempt_at=now)).rowcount

    def hasten_before(self, key: WorkerKey, page_id: int, now: datetime) -> None:
        """A page was queued: its worker's earlier alerts that backed off are due now (the page goes right after)."""
        values = (key.account_sid, key.workspace_sid, key.worker_sid)
        worker = (outbox.c[n] == v for n, v in zip(WORKER, values, strict=True))
        before = and_(*worker, outbox.c.id < page_id, outbox.c.status == AlertStatus.PENDING, outbox.c.attempts > 0)
        with connected(self.bind) as connection:
            connection.execute(update(outbox).where(before, outbox.c.next_attempt_at > now).values(next_attempt_at=now))

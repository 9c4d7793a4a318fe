"""The full-path mix: signed worker events for 3,000 workers, fresh and never repeated."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import random
import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote_plus

from bench.bodies import ACCOUNT, TOKEN, WORKSPACE, email, sid, worker_attributes

# The README's EventsFilter (created, attributes.update, deleted) plus worker.activity.update.
MIX = {"worker.activity.update": 0.60, "worker.attributes.update": 0.36, "worker.created": 0.02, "worker.deleted": 0.02}
DRIFT_SHARE = 0.2  # attribute updates that carry a wrong contact_uri
ACTIVITIES = {"Available": sid("WA", 1), "Unavailable": sid("WA", 2), "Break": sid("WA", 3), "Offline": sid("WA", 4)}
GENERATION = 1_000_000  # a deleted slot's next worker is numbered slot + generation × this


@dataclass
class Worker:
    """One worker slot: who is in it now, at which version and activity, and whether its value drifts."""

    slot: int
    generation: int = 0
    version: int = 1
    activity: str = "Available"
    drifting: bool = False
    live: bool = True

    @property
    def number(self) -> int:
        """The number behind the worker's SID, email and contact_uri."""
        return self.slot + self.generation * GENERATION


@lru_cache(maxsize=16384)
def _attributes(number: int, drifting: bool) -> str:
    """A worker's attributes as JSON (built once per worker and value)."""
    return worker_attributes(number, drifting)


@lru_cache(maxsize=16384)
def _quoted(text: str) -> str:
    """Form-encoded attributes (quoted once per worker and value)."""
    return quote_plus(text)


class FullPathMix:
    """Events for a pool of workers; every call continues the story (versions up, fresh Sids and timestamps)."""

    def __init__(self, url: str, workers: int = 3000, seed: int = 1) -> None:
        """Sign for `url`; start with `workers` live workers, all healthy, at version 1."""
        self.url = url
        self.rng = random.Random(seed)
        self.pool = [Worker(slot) for slot in range(workers)]
        self.awaiting: deque[Worker] = deque()  # deleted slots whose next worker is not created yet
        self.prefix = f"{self.rng.getrandbits(32):08x}"  # event Sids of this mix never meet another's
        self.counter = itertools.count(1)
        self.kinds = list(MIX)
        self.weights = list(MIX.values())
        self.key = TOKEN.encode()

    def lines(self, count: int) -> list[str]:
        """`count` new events as `signature<TAB>body` lines for wrk, stamped now."""
        now_ms = int(time.time() * 1000)
        kinds = self.rng.choices(self.kinds, self.weights, k=count)
        return [self._signed(self._fields(kind, now_ms)) for kind in kinds]

    def _live(self) -> Worker:
        """A random live worker."""
        while not (worker := self.rng.choice(self.pool)).live:
            pass
        return worker

    def _fields(self, kind: str, now_ms: int) -> dict[str, str]:
        """The form fields of one event of type `kind`, moving the worker's story on."""
        extra: dict[str, str] = {}
        if kind == "worker.created":
            worker = self.awaiting.popleft() if self.awaiting else self._grow()
            worker.live, worker.version, worker.activity, worker.drifting = True, 1, "Offline", False
        else:
            worker = self._live()
            worker.version += 1
            if kind == "worker.activity.update":
                previous = worker.activity
                worker.activity = self.rng.choice([name for name in ACTIVITIES if name != previous])
                seconds = self.rng.randint(5, 3600)
                extra = {
                    "WorkerPreviousActivitySid": ACTIVITIES[previous],
                    "WorkerPreviousActivityName": previous,
                    "WorkerTimeInPreviousActivity": str(seconds),
                    "WorkerTimeInPreviousActivityMs": str(seconds * 1000 + self.rng.randint(0, 999)),
                }
            elif kind == "worker.attributes.update":
                worker.drifting = self.rng.random() < DRIFT_SHARE
        number = worker.number
        fields = {
            "EventType": kind,
            "Sid": f"EV{self.prefix}{next(self.counter):024x}",
            "AccountSid": ACCOUNT,
            "WorkspaceSid": WORKSPACE,
            "WorkspaceName": "Flex Task Assignment",
            "EventDescription": f"Worker {email(number)} {kind.removeprefix('worker.')}",
            "ResourceType": "worker",
            "ResourceSid": sid("WK", number),
            "Timestamp": str(now_ms // 1000),
            "TimestampMs": str(now_ms),
            "WorkerSid": sid("WK", number),
            "WorkerName": email(number),
            "WorkerAttributes": _attributes(number, worker.drifting),
            "WorkerActivitySid": ACTIVITIES[worker.activity],
            "WorkerActivityName": worker.activity,
            "WorkerVersion": str(worker.version),
            **extra,
        }
        if kind == "worker.deleted":
            worker.live = False
            worker.generation += 1
            self.awaiting.append(worker)
        return fields

    def _grow(self) -> Worker:
        """A new slot, for a worker.created with no deleted slot waiting."""
        worker = Worker(len(self.pool))
        self.pool.append(worker)
        return worker

    def _signed(self, fields: dict[str, str]) -> str:
        """`signature<TAB>body`, signed as twilio's RequestValidator.compute_signature does (HMAC-SHA1)."""
        payload = self.url + "".join(name + fields[name] for name in sorted(fields))
        digest = hmac.new(self.key, payload.encode(), hashlib.sha1).digest()
        body = "&".join(
            f"{name}={_quoted(value) if name == 'WorkerAttributes' else quote_plus(value)}"
            for name, value in fields.items()
        )
        return f"{base64.b64encode(digest).decode()}\t{body}"

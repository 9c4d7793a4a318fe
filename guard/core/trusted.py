"""The evidence the guard trusts for a worker, as it is stored between events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Trusted:
    """The evidence the guard trusts for a worker: taken from its updates, frozen while a forced drift lasts."""

    email: str | None = None
    name: str = ""
    identity: str | None = None
    name_matched: bool = False  # a value was judged ok against this name: it stays trusted after a rename
    set_aside: str | None = None  # a twilio_contact_identity a Flex login contradicted: no evidence (core/aside.py)
    dropped: str | None = None  # a wrong value an update removed, while none is back (core/aside.py)

    def as_json(self) -> dict[str, Any]:
        """The trusted evidence as stored (adapters/state_rows.py reads it back)."""
        kept = {"email": self.email, "name": self.name, "identity": self.identity, "name_matched": self.name_matched}
        optional = {"set_aside": self.set_aside, "dropped": self.dropped}  # absent in older rows
        return kept | {key: value for key, value in optional.items() if value}

    @classmethod
    def from_json(cls, value: Mapping[str, Any], by_name: bool = False) -> Trusted:
        """The trusted evidence back from `as_json()`; `by_name`: the row's verdict is ok against the worker name.

        A row of an older release has no `name_matched`: its verdict says it (ok against the name).
        """
        text = {
            key: item if isinstance(item := value.get(key), str) else None
            for key in ("email", "identity", "set_aside", "dropped")
        }
        name, matched = value.get("name"), value.get("name_matched", by_name)
        return cls(**text, name=name if isinstance(name, str) else "", name_matched=matched is True)


NOTHING_TRUSTED = Trusted()

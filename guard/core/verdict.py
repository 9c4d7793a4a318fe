"""The verdict on one worker: what the guard concludes (Kind), and the values and reasons it carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from guard.core.diagnosis import Diagnosis
from guard.core.evidence import Basis


class Kind(StrEnum):
    """What the guard concludes about a worker."""

    OK = "ok"
    PENDING = "pending"
    MISMATCH = "mismatch"
    NO_EMAIL = "no_email"
    IGNORED = "ignored"
    DELETED = "deleted"  # not judged: TaskRouter deleted the worker (a stored state, never a judgment)


@dataclass(frozen=True)
class Verdict:
    """A verdict; `detail` is the human sentence (diagnosis for a mismatch, reason otherwise).

    `basis` names the evidence the value was judged against: the one it matched (ok), or the one
    that gives the expected value (pending, mismatch).
    """

    kind: Kind
    email: str | None = None
    expected: str | None = None
    actual: str | None = None
    diagnosis: Diagnosis | None = None
    detail: str = ""
    basis: Basis | None = None

    @property
    def drifting(self) -> bool:
        """True when the worker cannot receive calls because its contact_uri is wrong."""
        return self.kind is Kind.MISMATCH

    @property
    def removable(self) -> bool:
        """True when a wrong contact_uri is there for Twilio's fix to remove.

        Wiped attributes have none, and a rewritten identity whose value is still the expected one (what the
        browser registers) would only break the agent. Without an expected value (no email) nothing says Flex writes
        one back: another setup's worker would stay without.
        """
        return self.drifting and self.actual is not None and self.expected is not None and self.actual != self.expected

    @property
    def broken(self) -> bool:
        """True when the browser cannot ring: a wrong contact_uri, or none yet (Flex writes it at login).

        A rewritten identity whose value is still the one expected (what the browser registers) is a drift to
        look at, and no outage: that agent rings.
        """
        return self.kind is Kind.PENDING or (self.drifting and (self.actual is None or self.actual != self.expected))

    def removed(self, actor: str) -> Verdict:
        """The drift after its value was removed: pending until Flex writes the value at the agent's next login."""
        detail = f"contact_uri removed by {actor}; Flex writes it at the agent's next login"
        return Verdict(Kind.PENDING, self.email, self.expected, None, detail=detail, basis=self.basis)

    def fields(self) -> dict[str, Any]:
        """The verdict as flat JSON values, named as the state, alerts and reports name them."""
        return {
            "verdict": self.kind.value,
            "email": self.email,
            "expected": self.expected,
            "actual": self.actual,
            "diagnosis": self.diagnosis.value if self.diagnosis else None,
            "detail": self.detail,
            "basis": self.basis.value if self.basis else None,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> Verdict:
        """The verdict back from `fields()` (or a stored row with the same names)."""
        diagnosis, basis = fields.get("diagnosis"), fields.get("basis")
        return cls(
            Kind(fields["verdict"]),
            fields.get("email"),
            fields.get("expected"),
            fields.get("actual"),
            Diagnosis(diagnosis) if diagnosis else None,
            fields.get("detail") or "",
            Basis(basis) if basis else None,
        )

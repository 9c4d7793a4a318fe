"""Worker shapes from real Flex data (README "Which identity counts"), with their full attribute sets."""

from __future__ import annotations

from typing import Any

from tests.helpers import worker_sid


def flex_attributes(email: str, full_name: str, contact_uri: str | None = None, **extra: Any) -> dict[str, Any]:
    """Attributes as Flex writes them for an SSO agent: routing, roles, image_url, disabled_skills."""
    attributes: dict[str, Any] = {
        "disabled_skills": {"levels": {}, "skills": []},
        "email": email,
        "full_name": full_name,
        "image_url": "https://www.gravatar.com/avatar/00000000000000000000000000000000?d=mp",
        "roles": ["agent"],
        "routing": {"levels": {"support": 2}, "skills": ["support"]},
        **extra,
    }
    if contact_uri is not None:
        attributes["contact_uri"] = contact_uri
    return attributes


# (sid, friendly_name, attributes); the first three are healthy, the rest are broken or pending.
DANA = (
    worker_sid(11),
    "dana.scully",
    flex_attributes("dana.scully@fbi.example", "Dana Scully", "client:dana_2Escully"),
)
FOX = (
    worker_sid(12),
    "Fox Mulder",
    flex_attributes("agent@twilio.com", "Fox Mulder", "client:fmulder", twilio_contact_identity="fmulder"),
)
ANN = (
    worker_sid(13),
    "ann.veal@arresteddevelopment.com",
    flex_attributes(
        "ann.veal@arresteddevelopment.com",
        "Ann Veal",
        "client:ann_2Eveal_40arresteddevelopment_2Ecom",
        twilio_contact_identity="ann_2Eveal_40arresteddevelopment_2Ecom",
    ),
)
# A script "normalised" contact_uri to the email rule, while Flex registers jbyers.
JOHN = (
    worker_sid(14),
    "jbyers",
    flex_attributes(
        "john.byers@fbi.example", "John Byers", "client:john_2Ebyers_40fbi_2Eexample", twilio_contact_identity="jbyers"
    ),
)
MELVIN = (
    worker_sid(15),
    "melvin.frohike",
    flex_attributes("melvin.frohike@fbi.example", "Melvin Frohike", "client:lone_2Egunmen"),
)
WALTER = (worker_sid(16), "walter.skinner@fbi.example", flex_attributes("walter.skinner@fbi.example", "Walter Skinner"))

HEALTHY = (DANA, FOX, ANN)
BROKEN = (JOHN, MELVIN)

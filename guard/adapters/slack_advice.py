"""What an alert tells the admin to do: render (guard/adapters/slack.py) picks one, and the buttons that do it."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject

from guard.core.click import Action, value_digest

ADVICE = (
    "*What to do:* remove `contact_uri` from the worker's attributes; Flex regenerates it at the "
    "agent's next login. Never type a value in by hand."
)
SIGN_IN_ADVICE = (  # no value to remove (wiped, or already removed): Flex writes one at the next login
    "*What to do:* the agent must sign out and in again; Flex writes `contact_uri` at login. Never type a value "
    "in by hand."
)
CAME_BACK_ADVICE = (  # the value came back after a removal (history.CAME_BACK): never removed again
    "*What to do:* fix what writes this value (the user's identity at the IdP, a provisioning script), or mark it "
    "intended. Removing it again would only take the agent off voice until the next login."
)
REGISTERS_ADVICE = (  # a rewritten identity; the value is still the one the browser registers: never removed
    "*What to do:* keep this value: the browser registers it, and removing it would take the agent off voice. "
    "Put `twilio_contact_identity` back, or mark the value intended if the new identity is right."
)
NO_EMAIL_ADVICE = (  # nothing to derive the value from: not removed by the guard (another setup would stay without)
    "*What to do:* if this worker is a Flex agent, remove `contact_uri` and have the agent sign in again; Flex "
    "writes it at login. Otherwise whoever set up this worker must give it a Voice identity. The guard removes nothing."
)


def fix_buttons(reference: str, removable: bool = True, value: str | None = None) -> ActionsBlock:
    """The approver's two buttons (only Intended where nothing may be removed); the guard re-checks before acting.

    Both carry the digest of the `value` the message shows: a click after the value changed removes or marks nothing.
    """
    bound = f"{reference}/{value_digest(value)}" if value is not None else reference
    remove = ButtonElement(
        text="Remove contact_uri",
        action_id=Action.REMOVE,
        value=bound,
        style="danger",
        confirm=ConfirmObject(
            title="Remove contact_uri?",
            text="The guard fetches the worker again and removes the value only if it is still wrong. "
            "Flex writes the right one at the agent's next login.",
            confirm="Remove",
            deny="Cancel",
        ),
    )
    ignore = ButtonElement(
        text="Intended, ignore this worker",
        action_id=Action.IGNORE,
        value=bound,
        # It outlasts a removal (Flex does not undo it): one slip of the finger silences this value until undone
        confirm=ConfirmObject(
            title="Mark this value intended?",
            text="The guard stops alerting on this contact_uri for this worker. /status lists the mark, "
            "with a button that removes it.",
            confirm="Intended",
            deny="Cancel",
        ),
    )
    return ActionsBlock(block_id="contact_uri_fix", elements=[remove, ignore] if removable else [ignore])

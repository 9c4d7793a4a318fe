"""The test Twilio account: its token and SIDs, Ann Veal, and numbered agents' worker SIDs, emails and URIs."""

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
PREVIOUS_AUTH_TOKEN = "test-previous-token-fedcba9876543210"  # a rotation's: Twilio still signs with it
ACCOUNT_SID = "AC" + "a" * 32
WORKSPACE_SID = "WS" + "b" * 32
ANN_EMAIL = "ann.veal@arresteddevelopment.com"
ANN_URI = "client:ann_2Eveal_40arresteddevelopment_2Ecom"
OFFLINE_SID, AVAILABLE_SID = "WA" + "0" * 32, "WA" + "1" * 32  # Flex's default activities, as the fake API has them


def worker_sid(n: int) -> str:
    """A valid worker SID numbered `n`."""
    return f"WK{n:032x}"


def email(n: int) -> str:
    """A distinct agent email."""
    return f"agent.{n}@example.com"


def uri(n: int) -> str:
    """The correct contact_uri for agent n."""
    return f"client:agent_2E{n}_40example_2Ecom"

"""Fixtures of the remediation tests: the local TaskRouter API, contractors' custom values ignored."""

import pytest

from guard.core.ignore import IgnoreRules
from tests.helpers import fake_api_settings


@pytest.fixture
def settings_overrides(fake_api, request):
    """Point the REST client at the fake API and ignore the contractors' custom values."""
    extra = {"api_retries": 1, "ignore": IgnoreRules.parse("*@contractors.example.com")}
    return fake_api_settings(fake_api, **extra, **getattr(request, "param", {}))

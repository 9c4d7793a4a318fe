"""Pytest plugins that tests/conftest.py loads for every test: the databases, and the session's checks and figures."""

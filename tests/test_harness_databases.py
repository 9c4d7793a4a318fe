"""The test harness never empties a guard database it did not make (TEST_DATABASE_URL pointed at a service's)."""

import os

import pytest

from guard.adapters import db
from tests.plugins.databases import TESTS_MARK, _run_outside_transaction, foreign_guard_database, scratch_database


@pytest.mark.postgres
def test_a_migrated_database_without_the_tests_mark_is_foreign(postgres_url):
    with scratch_database(postgres_url, f"_foreign{os.getpid()}") as url:
        assert not foreign_guard_database(url)  # empty: nothing to lose
        engine = db.make_engine(url)
        db.upgrade(engine)  # a service's database, migrated
        engine.dispose()
        assert foreign_guard_database(url)
        _run_outside_transaction(url, f"CREATE TABLE {TESTS_MARK} ()")
        assert not foreign_guard_database(url)  # the tests' own, from an earlier run

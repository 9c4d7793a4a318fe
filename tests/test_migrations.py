"""The migrations build exactly the schema the code declares, and db.HEAD names the newest one."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from guard.adapters import db
from guard.adapters.tables import metadata


def test_head_constant_matches_the_newest_migration(services):
    assert db.script_head(services.store.engine) == db.HEAD
    assert db.current_revision(services.store.engine) == db.HEAD


def test_migrated_schema_matches_the_table_definitions(services):
    with services.store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_herokus_postgres_scheme_is_accepted(postgres_url):
    engine = db.make_engine(postgres_url.replace("postgresql://", "postgres://", 1))
    assert engine.dialect.name == "postgresql"
    assert db.current_revision(engine) == db.HEAD
    engine.dispose()

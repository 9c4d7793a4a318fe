"""Alembic environment: runs online on the engine the app hands over (see guard.adapters.db)."""

from alembic import context

from guard.adapters.tables import metadata

# Any constant works; it only has to be the same for every process migrating this database.
_PG_MIGRATION_LOCK = 0x6775617264


def run_migrations() -> None:
    """Run migrations in one transaction, holding a PostgreSQL advisory lock when on PostgreSQL."""
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            # Read under the lock: `migrate` says what this run found (two at once: only one created the tables)
            context.config.attributes["before"] = context.get_context().get_current_revision()
            context.run_migrations()


run_migrations()

"""The statements every event runs, compiled once per dialect and run straight on the DB-API cursor.

SQLAlchemy's execution machinery costs more CPU per statement than SQLite takes to run it (see BENCHMARKS.md,
"Full path: where an event's time goes"). These few statements keep SQLAlchemy's compilation and its types'
own bind and result processors (the same SQL, the same stored formats), and skip the rest. They run on the
connection of the caller's transaction, so they commit or roll back with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

Processor = Callable[[Any], Any] | None


class HotStatement:
    """One statement compiled for one dialect, with the processors of its parameters and result columns."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None) -> None:
        """Compile `statement` (an insert's `column_keys` name the values it is given)."""
        compiled = statement.compile(dialect=dialect, column_keys=list(column_keys) if column_keys else None)
        self.sql = str(compiled)
        self.errors = dialect.loaded_dbapi.Error
        self.positions = compiled.positiontup  # qmark dialects (SQLite): the parameters' order
        self.binds: dict[str, Processor] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect) for bind, name in compiled.bind_names.items()
        }
        # Each parameter in the order the DB-API takes it: its name, where a row's value comes from, its processor
        order = self.positions or list(self.binds)
        self.plan = [(name, *_row_source(name), self.binds[name]) for name in order]
        columns = getattr(statement, "selected_columns", ())  # a select's; a RETURNING here needs no processing
        self.results: dict[str, Processor] = {
            column.key: column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        }

    def run(
        self, connection: Connection, values: Mapping[str, Any], rows: Sequence[Mapping[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        """Execute on the connection's own DB-API connection; the rows as dicts.

        A parameter named `column_N` takes row N's `column` from `rows` when they are given, any other its `values`.
        """
        taken: list[Any] = []
        for name, row, key, process in self.plan:
            value = rows[row][key] if rows and row is not None else values[name]
            taken.append(process(value) if process else value)
        arguments: Any = (
            taken if self.positions else {name: value for (name, *_), value in zip(self.plan, taken, strict=True)}
        )
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            try:
                cursor.execute(self.sql, arguments)
            except self.errors as err:  # as SQLAlchemy would raise it: OperationalError, ProgrammingError …
                raise DBAPIError.instance(self.sql, arguments, err, self.errors, dialect=connection.dialect) from err
            if cursor.description is None:
                return []
            names = [column[0] for column in cursor.description]
            processed = [(name, process) for name in names if (process := self.results.get(name))]
            found = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            for row in found:
                for name, process in processed:
                    row[name] = process(row[name])
            return found
        finally:
            cursor.close()


def _row_source(name: str) -> tuple[int | None, str]:
    """`column_N`: row N's column; any other name stands for itself."""
    column, _, row = name.rpartition("_")
    return (int(row), column) if column and row.isdigit() else (None, name)

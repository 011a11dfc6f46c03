"""``mode("errorifexists")`` and ``mode("ignore")`` for ``df.write.format("lakeinfer")``.

Spark hands a Python data source only two save modes, append and overwrite, and refuses the
others (including ``errorifexists``, the default) before the source sees the write. So for the
``lakeinfer`` format only, :func:`install` wraps PySpark's ``DataFrameWriter``: it remembers
the format, mode and options given, and at ``save`` turns ``errorifexists`` into an append
that must create the table (the commit fails if the table exists, also when another writer
created it meanwhile), and ``ignore`` into nothing when the table exists. Every other format
goes through untouched. A write that creates a table also holds its staging directory here,
in the driver's process, for as long as the job runs.
"""

from __future__ import annotations

import functools
from typing import Any

from lakeinfer.errors import TableExistsError

NAME = "lakeinfer"
CREATE_ONLY = "lakeinfer.createOnly"
STAGING = "lakeinfer.staging"
_INSTALLED = False


def install() -> None:
    """Wrap ``DataFrameWriter`` (classic PySpark) once per process."""
    global _INSTALLED
    if _INSTALLED:
        return
    from pyspark.sql.readwriter import DataFrameWriter

    _wrap(DataFrameWriter)
    _INSTALLED = True


def _state(writer: Any) -> dict[str, Any]:
    state = writer.__dict__.get("_lakeinfer")
    if state is None:
        state = writer.__dict__["_lakeinfer"] = {"format": None, "mode": None, "options": {}}
    return state


def _wrap(cls: type) -> None:
    original_format, original_mode = cls.format, cls.mode
    original_option, original_options, original_save = cls.option, cls.options, cls.save

    @functools.wraps(original_format)
    def format(self: Any, source: str) -> Any:  # noqa: A001 (PySpark's name)
        _state(self)["format"] = source
        return original_format(self, source)

    @functools.wraps(original_mode)
    def mode(self: Any, saveMode: str | None) -> Any:  # noqa: N803 (PySpark's name)
        if saveMode is not None:
            _state(self)["mode"] = saveMode
        return original_mode(self, saveMode)

    @functools.wraps(original_option)
    def option(self: Any, key: str, value: Any) -> Any:
        _state(self)["options"][str(key).lower()] = value
        return original_option(self, key, value)

    @functools.wraps(original_options)
    def options(self: Any, **given: Any) -> Any:
        _state(self)["options"].update({str(k).lower(): v for k, v in given.items()})
        return original_options(self, **given)

    @functools.wraps(original_save)
    def save(
        self: Any,
        path: str | None = None,
        format: str | None = None,  # noqa: A002 (PySpark's name)
        mode: str | None = None,
        partitionBy: Any = None,  # noqa: N803 (PySpark's name)
        **given: Any,
    ) -> None:
        state = _state(self)
        source = format or state["format"]
        if source is None or str(source).lower() != NAME:
            return original_save(self, path, format, mode, partitionBy, **given)
        chosen = str(mode or state["mode"] or "errorifexists").lower()
        if partitionBy:
            columns = [partitionBy] if isinstance(partitionBy, str) else list(partitionBy)
            self.option("partitionBy", ",".join(columns))
        for key, value in given.items():
            self.option(key, value)
        from lakeinfer.spark.datasource import arrow_of
        from lakeinfer.spark.tables import held_staging, plan_write, resolve

        options = {k: str(v) for k, v in state["options"].items()}
        name = path or options.get("path") or options.get("table") or ""
        table = resolve(name, options.get("home"))
        if chosen in ("error", "errorifexists", "default", "ignore"):
            if table.exists():
                if chosen == "ignore":
                    return None
                raise TableExistsError(
                    f"table {table.name} already exists (write with mode 'append' or 'overwrite')"
                )
            self.option(CREATE_ONLY, "true")
            chosen = "append"
        # the schema checks here, in the caller's process, so their errors arrive as they are
        plan_write(
            table,
            arrow_of(self._df.schema),
            overwrite=chosen == "overwrite",
            replace_schema=options.get("overwriteschema", "false").lower() == "true",
            partition_by=[c for c in options.get("partitionby", "").split(",") if c.strip()],
        )
        # this process lives as long as the job: it holds a new table's staging directory
        with held_staging(table) as staging:
            if staging is not None:
                self.option(STAGING, str(staging))
            return original_save(self, path, format, chosen, None, **{})

    cls.format, cls.mode, cls.option, cls.options, cls.save = (
        format,
        mode,
        option,
        options,
        save,
    )

"""UPDATE, DELETE and MERGE INTO as queries that compute a table's next contents.

Each statement becomes one SELECT over the target (and, for MERGE, the source) that DuckDB runs
with the usual AI-call machinery; the executor then overwrites the target in one Delta commit,
checked against the version it read. Hidden columns say what happened to each row, so the
counts Databricks reports (``num_updated_rows`` ...) come from the same pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
from sqlglot import exp, parse_one

from lakeinfer.errors import AnalysisError, SqlError, did_you_mean

HIT = "__li_hit"
ACTION = "__li_action"
TARGET_ID = "__li_tid"
SOURCE_ID = "__li_sid"
#: the pre-evaluated USING side of a MERGE, registered under this name for one statement
MERGE_SOURCE = "__li_merge_source"


def _sql(node: exp.Expression) -> str:
    return node.sql(dialect="databricks")


def _ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="databricks")


def _target_column(column: exp.Expression, columns: list[str], table: str) -> str:
    """The target column an assignment names (``a`` or ``t.a``), checked against the table."""
    if not isinstance(column, exp.Column):
        raise AnalysisError(f"expected a column to assign, got {_sql(column)}")
    lowered = {c.lower(): c for c in columns}
    name = lowered.get(column.name.lower())
    if name is None:
        raise AnalysisError(
            f"column {column.name!r} does not exist in {table}{did_you_mean(column.name, columns)}"
        )
    return name


def _table_text(table: exp.Table) -> tuple[str, str]:
    """``(table without alias, alias)`` as Databricks SQL; the alias defaults to the name."""
    alias = table.alias or table.name
    bare = table.copy()
    bare.set("alias", None)
    return _sql(bare), alias


# -- UPDATE / DELETE -------------------------------------------------------------------------
def update_queries(
    statement: exp.Update, columns: list[str], table: str
) -> tuple[exp.Expression, exp.Expression]:
    """Two queries: the rows ``WHERE`` selects with their new values, and the other rows.

    Kept apart so AI calls in ``SET`` are staged and run only for the selected rows; a row
    whose condition is NULL is not updated, as in Databricks.
    """
    target = statement.this
    if not isinstance(target, exp.Table):
        raise AnalysisError(f"UPDATE needs a table, got {_sql(target)}")
    where = statement.args.get("where")
    condition = _sql(where.this) if where is not None else "TRUE"
    assignments: dict[str, str] = {}
    for assignment in statement.expressions:
        if not isinstance(assignment, exp.EQ):
            raise AnalysisError(f"expected column = value in UPDATE SET, got {_sql(assignment)}")
        name = _target_column(assignment.this, columns, table)
        if name in assignments:
            raise AnalysisError(f"column {name!r} is assigned twice in UPDATE SET")
        assignments[name] = _sql(assignment.expression)
    projections = [
        f"{assignments[c]} AS {_ident(c)}" if c in assignments else _ident(c) for c in columns
    ]
    source = _sql(target)
    changed = f"SELECT {', '.join(projections)} FROM {source} WHERE {condition}"
    unchanged = (
        f"SELECT {', '.join(_ident(c) for c in columns)} FROM {source} "
        f"WHERE NOT COALESCE({condition}, FALSE)"
    )
    return parse_one(changed, read="databricks"), parse_one(unchanged, read="databricks")


def delete_query(statement: exp.Delete, columns: list[str]) -> exp.Expression:
    """``SELECT *, cond AS __li_hit FROM target``: rows with a hit are the deleted ones."""
    where = statement.args.get("where")
    condition = _sql(where.this) if where is not None else "TRUE"
    projections = [_ident(c) for c in columns] + [f"COALESCE({condition}, FALSE) AS {HIT}"]
    return parse_one(
        f"SELECT {', '.join(projections)} FROM {_sql(statement.this)}", read="databricks"
    )


def split_hits(data: pa.Table) -> tuple[pa.Table, pa.BooleanArray]:
    """The table without its hit column, and the hit column."""
    hits = data.column(HIT).combine_chunks()
    return data.drop_columns([HIT]), hits


# -- MERGE -----------------------------------------------------------------------------------
@dataclass
class MergeClause:
    """One ``WHEN ...`` clause: which rows it is for, its condition, what it does."""

    label: str
    kind: str  # "matched" | "not_matched" | "not_matched_by_source"
    action: str  # "update" | "delete" | "insert"
    condition: str | None
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class MergePlan:
    """The query computing the merged table, and the clauses it labels rows with."""

    query: exp.Expression
    clauses: list[MergeClause]

    def counts(self, actions: pa.Array) -> dict[str, int]:
        """num_updated_rows / num_deleted_rows / num_inserted_rows from the row labels."""
        import pyarrow.compute as pc  # loaded on use: it is slow to import

        totals = {"update": 0, "delete": 0, "insert": 0}
        counted = pc.value_counts(actions).to_pylist()
        by_label = {c.label: c.action for c in self.clauses}
        for entry in counted:
            action = by_label.get(entry["values"])
            if action is not None:
                totals[action] += entry["counts"]
        return totals


def merge_plan(
    statement: exp.Merge, target_columns: list[str], source_columns: list[str], table: str
) -> MergePlan:
    """Plan ``MERGE INTO target USING source ON ... WHEN ...`` over the evaluated source."""
    target = statement.this
    if not isinstance(target, exp.Table):
        raise AnalysisError(f"MERGE INTO needs a table, got {_sql(target)}")
    target_text, target_alias = _table_text(target)
    using = statement.args["using"]
    source_alias = using.alias or (using.name if isinstance(using, exp.Table) else "")
    if not source_alias:
        raise AnalysisError("MERGE INTO ... USING (subquery) needs an alias for the subquery")
    if source_alias.lower() == target_alias.lower():
        raise AnalysisError(
            f"MERGE source and target are both called {source_alias!r}; give one an alias"
        )
    clauses = [
        _merge_clause(i, when, target_columns, source_columns, source_alias, table)
        for i, when in enumerate(statement.args["whens"].expressions)
    ]
    if not clauses:
        raise AnalysisError("MERGE needs at least one WHEN clause")
    tgt, src = _ident(target_alias), _ident(source_alias)
    matched = f"{tgt}.{TARGET_ID} IS NOT NULL AND {src}.{SOURCE_ID} IS NOT NULL"
    only_source = f"{tgt}.{TARGET_ID} IS NULL"
    branches = {
        kind: _first_applicable([c for c in clauses if c.kind == kind], fallback)
        for kind, fallback in (
            ("matched", "keep"),
            ("not_matched", "skip"),
            ("not_matched_by_source", "keep"),
        )
    }
    action = (
        f"CASE WHEN {matched} THEN {branches['matched']} "
        f"WHEN {only_source} THEN {branches['not_matched']} "
        f"ELSE {branches['not_matched_by_source']} END"
    )
    projections = [f"{action} AS {ACTION}", f"{tgt}.{TARGET_ID} AS {TARGET_ID}"]
    for column in target_columns:
        cases = [
            f"WHEN '{c.label}' THEN {c.values.get(column, 'NULL')}"
            for c in clauses
            if c.action == "insert" or (c.action == "update" and column in c.values)
        ]
        own = f"{tgt}.{_ident(column)}"
        value = f"CASE {ACTION} {' '.join(cases)} ELSE {own} END" if cases else own
        projections.append(f"{value} AS {_ident(column)}")
    text = (
        f"SELECT {', '.join(projections)} "
        f"FROM (SELECT *, row_number() OVER () AS {TARGET_ID} FROM {target_text}) AS {tgt} "
        f"FULL OUTER JOIN (SELECT *, row_number() OVER () AS {SOURCE_ID} FROM {MERGE_SOURCE}) "
        f"AS {src} ON {_sql(statement.args['on'])}"
    )
    return MergePlan(parse_one(text, read="databricks"), clauses)


def _first_applicable(clauses: list[MergeClause], fallback: str) -> str:
    if not clauses:
        return f"'{fallback}'"
    whens = " ".join(f"WHEN {c.condition or 'TRUE'} THEN '{c.label}'" for c in clauses)
    return f"CASE {whens} ELSE '{fallback}' END"


def _merge_clause(
    index: int,
    when: exp.When,
    target_columns: list[str],
    source_columns: list[str],
    source_alias: str,
    table: str,
) -> MergeClause:
    if when.args.get("matched"):
        kind = "matched"
    elif when.args.get("source"):
        kind = "not_matched_by_source"
    else:
        kind = "not_matched"
    condition = when.args.get("condition")
    then = when.args["then"]
    clause = MergeClause(
        label=f"w{index}",
        kind=kind,
        action="",
        condition=_sql(condition) if condition is not None else None,
    )
    src = _ident(source_alias)
    if isinstance(then, exp.Var) and then.name.upper() == "DELETE":
        if kind == "not_matched":
            raise AnalysisError("WHEN NOT MATCHED can only INSERT")
        clause.action = "delete"
    elif isinstance(then, exp.Update):
        if kind == "not_matched":
            raise AnalysisError("WHEN NOT MATCHED can only INSERT")
        clause.action = "update"
        if len(then.expressions) == 1 and isinstance(then.expressions[0], exp.Star):
            if kind == "not_matched_by_source":
                raise AnalysisError("WHEN NOT MATCHED BY SOURCE cannot UPDATE SET *")
            clause.values = _star_values(target_columns, source_columns, src, "UPDATE SET *", table)
        else:
            for assignment in then.expressions:
                if not isinstance(assignment, exp.EQ):
                    raise AnalysisError(f"expected column = value, got {_sql(assignment)}")
                name = _target_column(assignment.this, target_columns, table)
                clause.values[name] = _sql(assignment.expression)
    elif isinstance(then, exp.Insert):
        if kind != "not_matched":
            raise AnalysisError("INSERT is only allowed in WHEN NOT MATCHED")
        clause.action = "insert"
        if isinstance(then.this, exp.Star):
            clause.values = _star_values(target_columns, source_columns, src, "INSERT *", table)
        else:
            names = [_target_column(c, target_columns, table) for c in then.this.expressions]
            values = then.expression.expressions
            if len(names) != len(values):
                raise AnalysisError(
                    f"INSERT lists {len(names)} columns but {len(values)} values in MERGE"
                )
            clause.values = {n: _sql(v) for n, v in zip(names, values, strict=True)}
    else:
        raise AnalysisError(f"unsupported MERGE action: {_sql(then)}")
    return clause


def _star_values(
    target_columns: list[str], source_columns: list[str], src: str, what: str, table: str
) -> dict[str, str]:
    lowered = {c.lower(): c for c in source_columns}
    values = {}
    for column in target_columns:
        found = lowered.get(column.lower())
        if found is None:
            raise AnalysisError(
                f"{what}: the MERGE source has no column {column!r} for {table}"
                f"{did_you_mean(column, source_columns)}"
            )
        values[column] = f"{src}.{_ident(found)}"
    return values


def finish_merge(plan: MergePlan, data: pa.Table, table: str) -> tuple[pa.Table, dict[str, int]]:
    """Drop deleted and unmatched rows, check that no target row was changed twice, and count.

    Databricks refuses a MERGE in which several source rows update or delete the same target
    row; a target row matched by several source rows that no clause acts on is kept once.
    """
    import pyarrow.compute as pc  # loaded on use: it is slow to import

    actions = data.column(ACTION).combine_chunks()
    target_ids = data.column(TARGET_ID).combine_chunks()
    changing = {c.label for c in plan.clauses if c.kind == "matched"}
    acted = pc.is_in(actions, pa.array(sorted(changing) or [""], pa.string()))
    changed_ids = pc.filter(target_ids, acted)
    if len(changed_ids) != len(pc.unique(changed_ids)):
        raise SqlError(
            f"MERGE into {table}: several source rows matched the same target row and tried to "
            "change it; make the source unique on the join key (e.g. with a GROUP BY or "
            "QUALIFY row_number() ... = 1)"
        )
    counts = plan.counts(actions)
    deleting = [c.label for c in plan.clauses if c.action == "delete"] + ["skip"]
    keep = pc.invert(pc.is_in(actions, pa.array(deleting, pa.string())))
    data = data.filter(keep)
    # a target row joined to several source rows without any clause acting: keep it once
    ids = data.column(TARGET_ID).combine_chunks()
    first = _first_occurrence(ids)
    data = data.filter(first).drop_columns([ACTION, TARGET_ID])
    return data, counts


def _first_occurrence(ids: pa.Array) -> pa.BooleanArray:
    import pyarrow.compute as pc  # loaded on use: it is slow to import

    present = pc.drop_null(ids)
    if len(pc.unique(present)) == len(present):
        return pa.array([True] * len(ids), pa.bool_())
    seen: set[int] = set()
    mask = []
    for value in ids.to_pylist():
        if value is None:
            mask.append(True)
        elif value in seen:
            mask.append(False)
        else:
            seen.add(value)
            mask.append(True)
    return pa.array(mask, pa.bool_())

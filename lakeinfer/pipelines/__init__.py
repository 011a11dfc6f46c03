"""Pipelines: incremental (streaming) inference over Delta tables, and scheduled jobs.

``streaming``: micro-batches read new commits of a Delta table, run a query with ``ai_query``
and append to another Delta table exactly once (checkpoint + Delta application transactions).
``jobs``: YAML job files (tasks, dependencies, retries, timeouts, cron schedules) and their run
history in ``system.lakeflow``.
"""

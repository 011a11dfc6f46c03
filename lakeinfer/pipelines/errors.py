"""Errors of streams and jobs (all :class:`lakeinfer.errors.LakeinferError`)."""

from __future__ import annotations

from lakeinfer.errors import LakeinferError


class StreamingError(LakeinferError):
    """A stream cannot go on: the source changed, the checkpoint does not match, bad options."""


class JobConfigError(LakeinferError):
    """A job file is malformed; the message names the file, field and line."""


class JobError(LakeinferError):
    """A job run failed (one of its tasks failed, timed out or was skipped)."""

"""The progress bar for AI work: requests done / total, requests per second, errors.

Shown on stderr only when it is a terminal (or when asked), and only for work that lasts more
than a second, so quick statements and scripts piping the output stay quiet.
"""

from __future__ import annotations

import sys
from typing import IO

from tqdm import tqdm

#: seconds of work before the bar appears
SHOW_AFTER_S = 1.0


class Progress:
    """Counts answered requests and failures for one batch of model calls."""

    def __init__(
        self, total: int, label: str, enabled: bool | None = None, file: IO[str] | None = None
    ):
        file = file or sys.stderr
        show = enabled if enabled is not None else file.isatty()
        self.errors = 0
        self._bar = tqdm(
            total=total,
            desc=label,
            unit="req",
            file=file,
            disable=not show,
            delay=SHOW_AFTER_S,
            leave=False,
            dynamic_ncols=True,
        )

    def advance(self, ok: bool) -> None:
        """One request finished (``ok``: with an answer)."""
        if not ok:
            self.errors += 1
            self._bar.set_postfix(errors=self.errors, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()

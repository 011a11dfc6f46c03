"""Label similarity with the embedded all-MiniLM-L6-v2, beside the embedded chat model.

Scored task requests (:mod:`lakeinfer.sql.task_scoring`) may name, for each label, texts that
stand for it (the label itself for ``ai_classify``, a few example sentences for
``ai_analyze_sentiment``). When the embedded embedder is installed (``lakeinfer[ml]``), the
answer then also carries the cosine between the row's text and the mean of each label's texts.
Without it the chat model's scores are used alone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np


class LabelSimilarity:
    """Cosines between a text and label prototypes; the model is loaded on first use."""

    def __init__(self) -> None:
        self._model: Any = None
        self._missing = False
        self._lock = threading.Lock()
        self._prototypes: dict[tuple[str, ...], np.ndarray] = {}

    def _load(self) -> Any:
        if self._model is None and not self._missing:
            try:
                from lakeinfer.endpoints.sentence_transformers import (
                    embedded_model_path,
                    load_model,
                )

                self._model = load_model(str(embedded_model_path()))
            except Exception:  # not installed (the demo's install) or unusable: chat only
                self._missing = True
        return self._model

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        return np.asarray(model.encode(list(texts), normalize_embeddings=True))

    def _scores(self, text: str, options: dict[str, list[str]]) -> dict[str, float] | None:
        with self._lock:  # one encoder, used from worker threads
            if self._load() is None:
                return None
            vector = self._encode([text])[0]
            scores = {}
            for label, texts in options.items():
                key = tuple(texts)
                centre = self._prototypes.get(key)
                if centre is None:
                    mean = self._encode(texts).mean(axis=0)
                    centre = mean / (np.linalg.norm(mean) or 1.0)
                    self._prototypes[key] = centre
                scores[label] = float(vector @ centre)
            return scores

    async def scores(self, text: str, options: dict[str, list[str]]) -> dict[str, float] | None:
        """The cosine of ``text`` with each label's prototype; None without the embedder."""
        if self._missing:
            return None
        return await asyncio.to_thread(self._scores, text, options)

"""Tiny real models built from a config at test time (no downloads): random weights, real
architectures, real tokenizers, so the real loading and inference code runs."""

from __future__ import annotations

from pathlib import Path

WORDS = ["alice", "bob", "lives", "in", "paris", "london", "works", "at", "acme", "the", "."]
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def _vocab(directory: Path) -> Path:
    path = directory / "vocab.txt"
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s"]
    path.write_text("\n".join(tokens) + "\n")
    return path


def build_bert(directory: Path, task: str, labels: list[str]) -> Path:
    """Save a 2-layer BERT for ``task`` (token- or text-classification) with ``labels``."""
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertForTokenClassification,
        BertTokenizerFast,
    )

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizerFast(vocab_file=str(_vocab(directory)), do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(0)
    model_class = (
        BertForTokenClassification
        if task == "token-classification"
        else BertForSequenceClassification
    )
    model = model_class(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory

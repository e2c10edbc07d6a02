"""Tokenizers: a BERT WordPiece vocabulary from a model directory, or one trained here."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import cast

from tokenizers import normalizers, pre_tokenizers
from transformers import BertTokenizer, PreTrainedTokenizerFast

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def load_tokenizer(directory: Path) -> PreTrainedTokenizerFast:
    """The tokenizer of a directory holding vocab.txt or tokenizer.json
    (never `vocab_file=`: transformers 5 silently ignores it)."""
    if not (directory / "vocab.txt").is_file() and not (directory / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{directory}: no vocab.txt or tokenizer.json")
    tokenizer = cast(PreTrainedTokenizerFast, BertTokenizer.from_pretrained(str(directory)))
    if tokenizer.vocab_size < 10:
        raise ValueError(
            f"{directory}/vocab.txt holds {tokenizer.vocab_size} tokens: not a vocabulary"
        )
    return tokenizer


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 4000, lowercase: bool = True
) -> PreTrainedTokenizerFast:
    """A WordPiece vocabulary learned from the training words (for models built from scratch).

    Deterministic (the `tokenizers` trainer breaks ties differently from run to run, which
    would make two runs on the same data differ): every character, with and without `##`,
    then the most frequent whole words, prefixes and `##` suffixes, ties broken by text.
    """
    normalizer = normalizers.Sequence(
        ([normalizers.Lowercase()] if lowercase else [])
        + [normalizers.NFD(), normalizers.StripAccents()]
    )
    splitter = pre_tokenizers.BertPreTokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        for piece, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text)):
            words[piece] += 1
    characters = sorted({c for word in words for c in word})
    vocab = list(SPECIAL) + characters + [f"##{c}" for c in characters]
    pieces: Counter[str] = Counter()
    for word, count in words.items():
        pieces[word] += count * 2
        for length in range(2, min(len(word), 7)):
            pieces[word[:length]] += count
            pieces[f"##{word[-length:]}"] += count
    ranked = [piece for piece, _ in sorted(pieces.items(), key=lambda item: (-item[1], item[0]))]
    vocab = list(dict.fromkeys(vocab + ranked))[: max(vocab_size, len(vocab))]
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
        return cast(
            PreTrainedTokenizerFast, BertTokenizer.from_pretrained(work, do_lower_case=lowercase)
        )

"""SQuAD v1.1 and XQuAD as the reader's training and checking data, read from ``../shared/data/`` (never copied).

Support code for :mod:`bench.train_reader` and :mod:`bench.reader_squad`. XQuAD's 240 paragraphs are all in SQuAD
dev, so the training set leaves them out (:func:`training_examples`) and XQuAD stays unseen.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from bench.harness import REPO

DATA = REPO.parent / "shared" / "data"
SQUAD_FILES = ("squad11/train-slice-44-articles.json", "squad11/dev-part-a.json", "squad11/dev-part-b.json")
XQUAD_LANGUAGES = ("en", "de", "es", "ru")


@dataclass(frozen=True)
class Example:
    """One question on one paragraph; ``answers`` empty for a no-answer pair (a paragraph that does not hold it)."""

    id: str
    title: str
    context: str
    question: str
    answers: tuple[tuple[str, int], ...]  # (text, character start)


def has_data() -> bool:
    return all((DATA / name).is_file() for name in SQUAD_FILES) and (DATA / "xquad" / "xquad.en.json").is_file()


def load(path: Path) -> list[Example]:
    """Every question of a file in SQuAD's JSON format."""
    examples = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = tuple((a["text"], int(a["answer_start"])) for a in qa["answers"])
                examples.append(Example(qa["id"], article["title"], paragraph["context"], qa["question"], answers))
    return examples


def xquad(language: str) -> list[Example]:
    return load(DATA / "xquad" / f"xquad.{language}.json")


def training_examples(negatives: float, seed: int) -> list[Example]:
    """SQuAD v1.1 (train slice and dev) without XQuAD's paragraphs, plus, for a ``negatives`` share of questions,
    the question against another paragraph of its article with no answer: the reader learns to say "not here"."""
    held_out = {example.context for example in xquad("en")}
    examples = [e for name in SQUAD_FILES for e in load(DATA / name) if e.context not in held_out]
    rng = random.Random(seed)
    by_title: dict[str, list[str]] = {}
    for example in examples:
        contexts = by_title.setdefault(example.title, [])
        if not contexts or contexts[-1] != example.context:
            contexts.append(example.context)
    pairs = list(examples)
    for example in examples:
        others = [c for c in by_title[example.title] if c != example.context]
        if others and rng.random() < negatives:
            pairs.append(Example(f"{example.id}-none", example.title, rng.choice(others), example.question, ()))
    return pairs


def official_normalize(text: str) -> str:
    """The official SQuAD v1.1 script's normalisation: lower case, punctuation deleted (not spaced), no articles."""
    import re
    import string

    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def official_scores(prediction: str, answers: list[str]) -> tuple[float, float]:
    """(exact match, token F1) of ``prediction``, the best over the gold answers, as the official script scores."""
    from collections import Counter

    said = official_normalize(prediction)
    exact = max(float(said == official_normalize(a)) for a in answers)
    best = 0.0
    for answer in answers:
        gold, mine = official_normalize(answer).split(), said.split()
        common = sum((Counter(mine) & Counter(gold)).values())
        if common:
            precision, recall = common / len(mine), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return exact, best

"""The reader on XQuAD, which it never saw in training: exact match and token F1 as the official SQuAD v1.1 script
scores them, in English and in the three translations, beside the published figures.

    python -m bench.reader_squad [--weights DIR] [--checkpoint DIR] [--languages en,de,es,ru] [--backend openvino]

XQuAD's 1,190 questions are on 240 SQuAD v1.1 dev paragraphs that the training left out (``bench.train_reader``),
so the English figure is a held-out SQuAD dev figure. Each question is read against its own paragraph, as the
published SQuAD figures are measured (published, SQuAD v1.1 dev F1: DistilBERT 86.9, MiniLM-L12-H384 85.7 after one
epoch of the full 87,599-question train set; this reader is MiniLM-L6, sentence-embedding weights, trained on 21k).
``--checkpoint`` also scores the float32 weights of a training folder (in English), to show what shipping them in
float16 costs.
The German, Spanish and Russian figures say how far an English-only encoder reads other languages.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bench import squad
from bench.harness import add_save_option, save_figures

PUBLISHED = {"DistilBERT (SQuAD v1.1 dev F1)": 86.9, "MiniLM-L12-H384, 1 epoch (SQuAD v1.1 dev F1)": 85.7}


def score(reader: Any, examples: list[squad.Example]) -> dict[str, float]:
    exact = f1 = 0.0
    began = time.perf_counter()
    for example in examples:
        readings = reader.read(example.question, [example.context])
        said = readings[0].text if readings else ""
        e, f = squad.official_scores(said, [text for text, _ in example.answers])
        exact, f1 = exact + e, f1 + f
    seconds = time.perf_counter() - began
    n = max(1, len(examples))
    return {
        "questions": len(examples),
        "exact_match": round(100 * exact / n, 1),
        "f1": round(100 * f1 / n, 1),
        "ms_per_question": round(1000 * seconds / n, 1),
    }


_LOAD = """
import sys, time
began = time.perf_counter()
from assistant.reader.model import Reader
Reader.load(None if sys.argv[1] == "-" else __import__("pathlib").Path(sys.argv[1]), backend=sys.argv[2],
            cache=__import__("pathlib").Path(sys.argv[3]))
print(time.perf_counter() - began)
"""


def load_seconds(weights: Path | None, backend: str, cache: Path, runs: int = 3) -> float:
    """The median time a fresh process takes to import the reader and load it (the conversion already cached)."""
    import subprocess

    times = []
    for _ in range(runs):
        command = [sys.executable, "-c", _LOAD, str(weights or "-"), backend, str(cache)]
        times.append(float(subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()[-1]))
    return round(sorted(times)[len(times) // 2], 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, help="The reader's folder (default: the shipped one).")
    parser.add_argument("--checkpoint", type=Path, help="A bench.train_reader folder: score its float32 weights too.")
    parser.add_argument("--languages", default=",".join(squad.XQUAD_LANGUAGES))
    parser.add_argument("--backend", choices=["openvino", "torch"], default="openvino")
    parser.add_argument("--limit", type=int, help="Only the first N questions of each language.")
    add_save_option(parser)
    args = parser.parse_args(argv)
    if not squad.has_data():
        print(f"skip: SQuAD v1.1 / XQuAD are not under {squad.DATA}", file=sys.stderr)
        return 0
    import tempfile

    from assistant.reader.model import Reader

    cache = Path(tempfile.mkdtemp(prefix="reader-bench-"))
    readers = {"shipped (float16)": Reader.load(args.weights, backend=args.backend, cache=cache)}
    if args.checkpoint:
        from bench.train_reader import main as train

        exported = cache / "float32"
        train(["--work", str(args.checkpoint), "--export-only", "--float32", "--into", str(exported)])
        readers["checkpoint (float32)"] = Reader.load(exported, backend=args.backend, cache=cache)
    figures: dict[str, Any] = {"published": PUBLISHED, "load_seconds": load_seconds(args.weights, args.backend, cache)}
    print(
        f"load in a fresh process ({args.backend}, converted model cached): {figures['load_seconds']} s",
        file=sys.stderr,
    )
    for name, reader in readers.items():
        for language in args.languages.split(",") if name.startswith("shipped") else ["en"]:
            examples = squad.xquad(language)[: args.limit]
            print(f"{name}: XQuAD {language} ({len(examples)} questions)", file=sys.stderr)
            figures.setdefault(name, {})[language] = score(reader, examples)
    print(f"{'weights':<22} {'language':<9} {'EM':>6} {'F1':>6} {'ms/q':>6}")
    for name in readers:
        for language, row in figures[name].items():
            print(f"{name:<22} {language:<9} {row['exact_match']:>6} {row['f1']:>6} {row['ms_per_question']:>6}")
    for label, value in PUBLISHED.items():
        print(f"published: {label} {value}")
    print(f"load in a fresh process: {figures['load_seconds']} s ({args.backend})")
    save_figures(args.save, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

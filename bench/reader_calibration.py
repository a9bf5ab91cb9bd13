"""The reader's confidence, calibrated on RealTime QA dev, and the bar a bold answer must clear, cross-validated by
week.

    python -m bench.reader_calibration --rtqa-index DIR [--weights DIR] [--write] [--save out.json]

Every dev question is asked through ``Assistant.ask`` as of its date, and every span the reader offers (the best of
each passage it reads) is recorded with its features (:func:`assistant.answer.reading.features`: the margin over
"no answer", how many other passages agree, how well it fits the kind of answer asked for) and whether it is right
(lenient token F1 ≥ 0.5 against the gold, see :mod:`assistant.answer.metrics`). A logistic curve over the features
gives each span a confidence; the answer takes the most confident span; the bar is the lowest confidence at which
the shown answers are right 85% of the time. Curve and bar are fitted on alternate quiz weeks and scored on the
others (two folds, both ways), beside the "tuned" figures fitted and scored on all weeks. ``--write`` stores the
all-weeks curve in the weights' manifest; the bar is the ``reader_confidence`` setting's default.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.harness import DATA_ROOT, REALTIMEQA, add_save_option, has_data, load_jsonl, save_figures

TARGET_PRECISION = 0.85
MIN_SHOWN = 5  # a bar that shows fewer answers than this on the fitting weeks says nothing
FEATURES = ("margin", "agree", "fit")


class Recording:
    """A reader that remembers what it last read and what it said (the spans the calibration is fitted on)."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.calibration = reader.calibration
        self.last: tuple[str, list[str], list[Any]] = ("", [], [])

    def read(self, question: str, passages: Any) -> Any:
        readings = self.reader.read(question, passages)
        self.last = (question, list(passages), list(readings))
        return readings


def fit(points: list[tuple[tuple[float, ...], bool]]) -> dict[str, float]:
    """Logistic regression of right on the features: Newton's method on standardised features, with a light ridge
    so that a separable or small set still gives a finite curve."""
    import numpy as np

    x = np.array([f for f, _ in points], dtype=float)
    y = np.array([float(r) for _, r in points])
    mean, scale = x.mean(0), np.where(x.std(0) > 0, x.std(0), 1.0)
    design = np.column_stack([(x - mean) / scale, np.ones(len(x))])
    w = np.zeros(design.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-design @ w))
        gradient = design.T @ (p - y) + 0.1 * w
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + 0.1 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    slopes = w[:-1] / scale
    curve = {name: float(v) for name, v in zip(FEATURES, slopes, strict=True)}
    return curve | {"intercept": float(w[-1] - (slopes * mean).sum())}


def confidence(candidate: dict[str, Any], curve: dict[str, float]) -> float:
    from assistant.reader.model import Calibration

    return Calibration(**curve).confidence(*(candidate[name] for name in FEATURES))


def chosen(rows: list[dict[str, Any]], curve: dict[str, float]) -> list[tuple[dict[str, Any], float] | None]:
    """Each question's most confident span under ``curve``, with its confidence (None: the reader offered none)."""
    out: list[tuple[dict[str, Any], float] | None] = []
    for row in rows:
        scored = [(c, confidence(c, curve)) for c in row["candidates"]]
        out.append(max(scored, key=lambda pair: pair[1]) if scored else None)
    return out


def bar(rows: list[dict[str, Any]], curve: dict[str, float]) -> float:
    """The lowest confidence whose shown answers are right TARGET_PRECISION of the time (1.0: none is)."""
    picks = sorted((p for p in chosen(rows, curve) if p), key=lambda pair: -pair[1])
    best, right = 1.0, 0
    for count, (candidate, level) in enumerate(picks, 1):
        right += candidate["right"]
        if count >= MIN_SHOWN and right / count >= TARGET_PRECISION:
            best = level
    return best


def scores(rows: list[dict[str, Any]], curve: dict[str, float], threshold: float) -> dict[str, float]:
    shown = [c for pick in chosen(rows, curve) if pick and pick[1] >= threshold for c in [pick[0]]]
    n = max(1, len(rows))
    return {
        "questions": len(rows),
        "shown": round(len(shown) / n, 4),
        "precision": round(sum(c["right"] for c in shown) / len(shown), 4) if shown else 0.0,
        "precision_strict": round(sum(c["f1"] >= 0.5 for c in shown) / len(shown), 4) if shown else 0.0,
        "f1": round(sum(c["f1"] for c in shown) / n, 4),
        "f1_lenient": round(sum(c["f1_lenient"] for c in shown) / n, 4),
        "em": round(sum(c["em"] for c in shown) / n, 4),
    }


def read_all(index: Path, questions: list[dict[str, Any]], weights: Path | None) -> list[dict[str, Any]]:
    from assistant.answer.assistant import Assistant
    from assistant.answer.metrics import RIGHT_F1, exact_match, lenient_f1, token_f1
    from assistant.answer.reading import features
    from assistant.reader.model import Reader
    from assistant.settings import get_settings

    settings = get_settings(progress=False)
    backend = "torch" if settings.embed_backend == "torch" else "openvino"
    reader = Recording(Reader.load(weights, backend=backend, cache=settings.cache_dir))
    rows = []
    with Assistant.open(index, settings=settings, reader=reader) as assistant:
        for position, q in enumerate(questions, 1):
            reader.last = ("", [], [])
            answer = assistant.ask(q["question"], as_of=q["question_date"])
            asked, passages, readings = reader.last
            candidates = []
            for reading in readings if not answer.abstained else []:
                f = features(asked, passages, readings, reading)
                candidates.append(
                    {
                        "text": reading.text,
                        "margin": f.margin,
                        "agree": f.agree,
                        "fit": f.fit,
                        "f1": token_f1(reading.text, q["answers"]),
                        "f1_lenient": lenient_f1(reading.text, q["answers"]),
                        "em": exact_match(reading.text, q["answers"]),
                        "right": lenient_f1(reading.text, q["answers"]) >= RIGHT_F1,
                    }
                )
            rows.append({"id": q["id"], "week": q["question_date"], "answers": q["answers"], "candidates": candidates})
            print(
                f"{position}/{len(questions)} {[c['text'] for c in candidates][:3]} ← {q['answers']}", file=sys.stderr
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA_ROOT)
    parser.add_argument("--rtqa-index", type=Path, required=True, help="A built RealTime QA index.")
    parser.add_argument("--weights", type=Path, help="The reader's folder (default: the shipped one).")
    parser.add_argument("--write", action="store_true", help="Store the all-weeks curve in the weights' manifest.")
    parser.add_argument("--rows", type=Path, help="Write every question's spans as JSON lines here.")
    add_save_option(parser)
    args = parser.parse_args(argv)
    rtqa = args.data / REALTIMEQA.folder_name
    if not has_data(rtqa, REALTIMEQA):
        return 0
    rows = read_all(args.rtqa_index, load_jsonl(rtqa / "queries_dev.jsonl"), args.weights)
    if args.rows:
        args.rows.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    figures = calibrate(rows)
    print(json.dumps(figures, indent=2))
    save_figures(args.save, figures)
    if args.write:
        from assistant.reader.model import WEIGHTS

        path = (args.weights or WEIGHTS) / "manifest.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["calibration"] = {
            **{k: round(v, 6) for k, v in figures["tuned"]["curve"].items()},
            "fitted_on": f"RealTime QA dev, {len(rows)} questions; right: lenient token F1 >= 0.5",
            "bar_for_precision_0.85": figures["tuned"]["bar"],
        }
        path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        print(f"wrote the calibration to {path}", file=sys.stderr)
    return 0


def calibrate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Folds by alternate weeks (each fitted on one half, scored on the other), then the all-weeks figures."""
    weeks = sorted({r["week"] for r in rows})
    halves = [{w for i, w in enumerate(weeks) if i % 2 == side} for side in (0, 1)]
    figures: dict[str, Any] = {"folds": []}
    held: list[tuple[dict[str, Any], dict[str, float], float]] = []
    for fit_weeks in halves:
        fitting = [r for r in rows if r["week"] in fit_weeks]
        scoring = [r for r in rows if r["week"] not in fit_weeks]
        curve = fit([(tuple(c[n] for n in FEATURES), c["right"]) for r in fitting for c in r["candidates"]])
        threshold = bar(fitting, curve)
        held += [(r, curve, threshold) for r in scoring]
        figures["folds"].append(
            {"curve": curve, "bar": round(threshold, 4), "held_out": scores(scoring, curve, threshold)}
        )
    shown = []
    for row, curve, threshold in held:
        pick = chosen([row], curve)[0]
        shown.append(pick[0] if pick and pick[1] >= threshold else None)
    given = [c for c in shown if c]
    figures["cross_validated"] = {
        "questions": len(held),
        "shown": round(len(given) / len(held), 4),
        "precision": round(sum(c["right"] for c in given) / max(1, len(given)), 4),
        "f1": round(sum(c["f1"] for c in given) / len(held), 4),
        "f1_lenient": round(sum(c["f1_lenient"] for c in given) / len(held), 4),
    }
    curve = fit([(tuple(c[n] for n in FEATURES), c["right"]) for r in rows for c in r["candidates"]])
    threshold = bar(rows, curve)
    figures["tuned"] = {"curve": curve, "bar": round(threshold, 4), **scores(rows, curve, threshold)}
    figures["always_shown"] = scores(rows, curve, 0.0)
    return figures


if __name__ == "__main__":
    raise SystemExit(main())

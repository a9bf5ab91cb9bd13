"""Timelines on RealTime QA stories that span several weeks: are the events in date order, each cited, without
duplicates, and do they reach the articles the story's dev questions were about?

    python -m bench.timeline_realtimeqa --rtqa-index DIR [--data ../shared/bench] [--save out.json]

The stories are in ``bench/story_questions.jsonl``: a question about the story, the day it is asked, and the dev
questions (from several quiz weeks) that belong to it; their gold articles are the story's known reports. Printed
per story: events, the weeks they span, the checks (date order; every event's citation exists and quotes the
event's sentence with its date and outlet; no article twice and no two events saying the same thing), and the
share of the story's gold articles among the events' citations. Skips cleanly (exit 0) when the data is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.harness import (
    DATA_ROOT,
    REALTIMEQA,
    STORY_QUESTIONS,
    add_save_option,
    gold_sets,
    has_data,
    load_jsonl,
    save_figures,
)

_SAME_TEXT = 0.8  # token Jaccard above which two events say the same thing


def checks(answer: Any) -> dict[str, Any]:
    """The promises a timeline makes, checked on one answer."""
    from assistant.answer.metrics import normalize
    from assistant.answer.timeline import events_in_order

    events = answer.timeline
    numbers = {c.number: c for c in answer.citations}
    cited = all(
        e.citation in numbers
        and numbers[e.citation].quote == e.text
        and numbers[e.citation].date == e.date
        and numbers[e.citation].source == e.source
        and all(n in numbers for n in e.also)
        for e in events
    )
    articles = [numbers[n].article_id for e in events for n in (e.citation, *e.also) if n in numbers]
    words = [set(normalize(e.text).split()) for e in events]
    repeated = any(len(a & b) / max(1, len(a | b)) >= _SAME_TEXT for i, a in enumerate(words) for b in words[i + 1 :])
    return {
        "events": len(events),
        "in_order": events_in_order(events),
        "all_cited": cited,
        "no_duplicates": len(articles) == len(set(articles)) and not repeated,
        "articles": articles,
        "merged_reports": sum(len(e.also) for e in events),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA_ROOT)
    parser.add_argument("--rtqa-index", type=Path)
    add_save_option(parser)
    args = parser.parse_args()
    rtqa = args.data / REALTIMEQA.folder_name
    if not has_data(rtqa, REALTIMEQA):
        return 0
    if args.rtqa_index is None or not (args.rtqa_index / "CURRENT").exists():
        print("skip: pass --rtqa-index DIR (build it with: assistant index build <data>/realtimeqa/corpus.jsonl)")
        return 0
    import datetime as dt

    from assistant.answer.assistant import Assistant
    from assistant.settings import get_settings

    dev = {q["id"]: q for q in load_jsonl(rtqa / "queries_dev.jsonl")}
    stories = load_jsonl(STORY_QUESTIONS)
    rows = []
    with Assistant.open(args.rtqa_index, settings=get_settings(progress=False)) as assistant:
        for story in stories:
            members = [dev[i] for i in story["dev_ids"]]
            gold = set().union(*gold_sets(rtqa, members))
            answer = assistant.ask(story["question"], as_of=story["as_of"])
            found = checks(answer)
            days = sorted(dt.date.fromisoformat(e.date) for e in answer.timeline if e.date)
            weeks = len({day.isocalendar()[:2] for day in days})
            rows.append(
                {
                    "story": story["id"],
                    "question": story["question"],
                    "detected": bool(answer.timeline),
                    "weeks": weeks,
                    "first": days[0].isoformat() if days else None,
                    "last": days[-1].isoformat() if days else None,
                    "gold_reached": len(gold & set(found["articles"])) / len(gold),
                    "ms": answer.timings["total"],
                    **{k: v for k, v in found.items() if k != "articles"},
                }
            )
    print(f"RealTime QA stories: {len(rows)} questions, each about a story with dev questions from several weeks")
    print("| story | events | weeks spanned | first – last | in date order | all cited | no duplicates | merged | "
          "gold articles reached |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['story']} | {r['events']} | {r['weeks']} | {r['first']} – {r['last']} | {r['in_order']} | "
            f"{r['all_cited']} | {r['no_duplicates']} | {r['merged_reports']} | {r['gold_reached']:.2f} |"
        )
    n = len(rows)
    summary = {
        "stories": n,
        "detected_as_stories": sum(r["detected"] for r in rows) / n,
        "in_order": sum(r["in_order"] for r in rows) / n,
        "all_cited": sum(r["all_cited"] for r in rows) / n,
        "no_duplicates": sum(r["no_duplicates"] for r in rows) / n,
        "mean_events": sum(r["events"] for r in rows) / n,
        "mean_weeks": sum(r["weeks"] for r in rows) / n,
        "gold_reached": sum(r["gold_reached"] for r in rows) / n,
    }
    print(json.dumps(summary, indent=2))
    save_figures(args.save, {"summary": summary, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Feed rounds at newsroom size: 25 feeds over loopback HTTP, 5 of them failing in different ways.

    python -m bench.feed_rounds [--data ../shared/bench/realtimeqa] [--feeds 25] [--entries 12] [--save F]

RealTime QA's articles (the first ``feeds × entries``) are spread over 20 RSS feeds with their full text, served on
two loopback addresses (two hosts) by the library's feed site (:class:`assistant.testing.FeedSite`); the other 5
feeds fail: a 404, a 503 with Retry-After, one that hangs past the timeout, one that is not well-formed XML, one
over the size limit. Three rounds with the
default settings (the OpenVINO embedder): the first adds everything, the second finds nothing changed (304s), the
third after 2 new entries in each good feed. Printed per round: seconds, feeds fetched and failed, articles added;
then whether every served article is in the index once (nothing lost or doubled) and each failure's reason.
Skips cleanly (exit 0) when the data is absent.
"""

from __future__ import annotations

import argparse
import email.utils
import html
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import REALTIMEQA, add_save_option, fmt, has_data, load_jsonl, save_figures

GOOD_SHARE = 0.8  # 20 of 25 feeds answer


def rss(title: str, articles: list[dict[str, Any]]) -> bytes:
    items = "".join(
        "<item>"
        f"<title>{html.escape(a['title'] or 'Untitled')}</title>"
        f"<link>{html.escape(a.get('url') or 'https://example.org/' + a['id'])}</link>"
        f'<guid isPermaLink="false">{html.escape(a["id"])}</guid>'
        f"<pubDate>{email.utils.format_datetime(_date(a.get('date')))}</pubDate>"
        f"<description>{html.escape(a['text'][:200])}</description>"
        f"<content:encoded>{html.escape(a['text'])}</content:encoded>"
        "</item>"
        for a in articles
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        f"<title>{html.escape(title)}</title><link>https://example.org/</link><description>bench</description>"
        f"{items}</channel></rss>"
    ).encode()


def _date(value: str | None) -> Any:
    from datetime import UTC, datetime

    try:
        return datetime.fromisoformat((value or "2022-01-01")[:10]).replace(tzinfo=UTC)
    except ValueError:
        return datetime(2022, 1, 1, tzinfo=UTC)


def run(data: Path, feeds: int, entries: int) -> dict[str, Any]:
    from assistant import Watcher, describe_index
    from assistant.settings import get_settings
    from assistant.testing import FeedSite

    good = round(feeds * GOOD_SHARE)
    articles = load_jsonl(data / "corpus.jsonl")[: good * (entries + 2)]
    shown = {n: articles[n * (entries + 2) : n * (entries + 2) + entries] for n in range(good)}
    later = {n: articles[n * (entries + 2) : (n + 1) * (entries + 2)] for n in range(good)}
    figures: dict[str, Any] = {"feeds": feeds, "failing": feeds - good, "entries_per_feed": entries, "rounds": []}
    with FeedSite(hosts=2).running() as site, tempfile.TemporaryDirectory() as work:
        for n in range(good):
            site.put(f"/feed{n}.xml", rss(f"Feed {n}", shown[n]))
        urls = [site.url(f"/feed{n}.xml", host=n % 2) for n in range(good)]
        failing = {
            "/missing.xml": None,  # never put: 404
            "/busy.xml": {"body": b"busy", "status": 503, "headers": {"Retry-After": "600"}, "validators": False},
            "/hangs.xml": {"body": rss("Slow", shown[0][:1]), "delay": 8.0},
            "/broken.xml": {"body": b"<rss><channel><item><title>cut off"},
            "/huge.xml": {"body": b"<rss>" + b" " * (3 * 1024 * 1024) + b"</rss>"},
        }
        for path, route in failing.items():
            if route is not None:
                site.put(path, **route)
        settings = get_settings(
            index_dir=Path(work) / "index", progress=False, feed_timeout=3.0, max_file_mb=2, watch_every=60
        )
        with Watcher(settings.index_dir, settings=settings) as watcher:
            watcher.add_feeds([*urls, *(site.url(p, n % 2) for n, p in enumerate(failing))])
            for name in ("first", "unchanged", "2 new entries per feed"):
                if name == "2 new entries per feed":
                    for n in range(good):
                        site.put(f"/feed{n}.xml", rss(f"Feed {n}", later[n]))
                started = time.perf_counter()
                report = watcher.round(every_feed=True)
                seconds = time.perf_counter() - started
                figures["rounds"].append(
                    {
                        "round": name,
                        "seconds": seconds,
                        "fetched": len(report.feeds),
                        "failed": len(report.failed),
                        "not_modified": sum(o.not_modified for o in report.feeds),
                        "added": len(report.added),
                        "changed": len(report.changed),
                        "generation": report.generation,
                    }
                )
                if name == "first":
                    figures["failures"] = {o.url.rsplit("/", 1)[1]: o.error for o in report.failed}
            listed = describe_index(settings.index_dir, with_articles=True, settings=settings).article_list or ()
            served = {a["id"] for n in range(good) for a in later[n]}
            held = [a.id for a in listed]
            figures["served"] = len(served)
            figures["indexed"] = len(held)
            figures["lost"] = len(served - set(held))
            figures["doubled"] = len(held) - len(set(held))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REALTIMEQA.folder)
    parser.add_argument("--feeds", type=int, default=25)
    parser.add_argument("--entries", type=int, default=12)
    add_save_option(parser)
    args = parser.parse_args()
    if not has_data(args.data, REALTIMEQA):
        return
    figures = run(args.data, args.feeds, args.entries)
    print(f"{figures['feeds']} feeds ({figures['failing']} failing), {figures['entries_per_feed']} entries each\n")
    print("| round | seconds | feeds fetched | failed | 304 | articles added | changed | generation |")
    print("|---|---|---|---|---|---|---|---|")
    for r in figures["rounds"]:
        print(
            f"| {r['round']} | {fmt(r['seconds'])} | {r['fetched']} | {r['failed']} | {r['not_modified']} | "
            f"{r['added']} | {r['changed']} | {r['generation'] or '–'} |"
        )
    print(
        f"\nserved {figures['served']} articles; the index holds {figures['indexed']}: "
        f"{figures['lost']} lost, {figures['doubled']} doubled"
    )
    for feed, reason in sorted(figures["failures"].items()):
        print(f"failed {feed}: {reason}")
    save_figures(args.save, figures)


if __name__ == "__main__":
    main()

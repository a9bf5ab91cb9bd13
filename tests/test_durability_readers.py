"""Durability for readers: searches and answers keep working while updates publish new generations and prune old
ones, and every answer comes from exactly one generation, however the swaps race the readers.
"""

from __future__ import annotations

import ast
import re
import threading
import time
from pathlib import Path

import pytest
from conftest import FakeEmbedder
from durability import current, wait_for

from assistant import Answer, Assistant, Hit, Retriever, build_index, get_settings, update_index
from assistant.arrays import ATTEMPTS, mapped_array
from assistant.index.local.reader import kept_generations


def test_searches_keep_working_during_updates(tmp_path: Path, base_index: tuple[Path, Path]) -> None:
    corpus, index = base_index
    query = "comet seen by astronomers"
    stale = Retriever.open(index, embedder=FakeEmbedder())  # never refreshed: its generation gets pruned
    first = "seg-00000001.vectors.npy"
    assert (index / current(index) / "segments" / first).exists()
    merging = get_settings(merge_factor=2, progress=False)
    fresh = Retriever.open(index, embedder=FakeEmbedder())  # refreshes before every search
    errors: list[BaseException] = []
    searches = {"stale": 0, "fresh": 0}
    stop = threading.Event()

    def reader(name: str, retriever: Retriever, refresh: bool) -> None:
        while not stop.is_set():
            try:
                if refresh:
                    retriever.refresh()
                assert retriever.search(query, k=3, as_of="2030-01-01")
                searches[name] += 1
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [
        threading.Thread(target=reader, args=("stale", stale, False)),
        threading.Thread(target=reader, args=("fresh", fresh, True)),
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: min(searches.values()) > 0 or bool(errors), timeout=10)
        before_updates = dict(searches)
        for n in range(3):
            (corpus / f"comet{n}.txt").write_text(f"Comet {n} seen\n\nAstronomers saw comet number {n}.\n")
            # A merge factor of 2: each update also merges, so the stale reader's segment files are deleted.
            assert update_index([corpus], index, embedder=FakeEmbedder(), settings=merging).published
        after_updates = dict(searches)
        wait_for(lambda: fresh.generation == 4 or bool(errors), timeout=10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    # Both readers searched while the updates ran.
    assert all(after_updates[name] > before_updates[name] for name in searches), (before_updates, after_updates)
    assert errors == []
    # The stale reader kept answering from a generation no longer kept, whose segment was merged and deleted.
    assert kept_generations(index) == [3, 4] and not (index / current(index) / "segments" / first).exists()

    assert fresh.generation == 4
    assert {h.article_id for h in stale.search(query, k=3, as_of="2030-01-01")}.isdisjoint(
        {"news/comet0.txt", "news/comet1.txt", "news/comet2.txt"}
    )
    assert stale.refresh() is True and stale.generation == 4
    assert stale.search(query, k=1, as_of="2030-01-01")[0].article_id.startswith("news/comet")
    stale.close()
    fresh.close()


LEDGERS = 4
_MARKER = re.compile(r"\bq(\d+)\b")


def _write_ledgers(folder: Path, generation: int) -> None:
    """The same few articles, rewritten so that every sentence names the generation that will hold it."""
    folder.mkdir(exist_ok=True)
    for n in range(LEDGERS):
        (folder / f"ledger{n}.md").write_text(
            f"---\ntitle: Harbour ledger entry {n}\ndate: 2024-05-0{n + 1}\nsource: Ledger Wire\n---\n\n"
            f"Ledger entry marker q{generation} reads a balance of {n} crowns for the harbour account. "
            f"The harbour clerk filed marker q{generation} for ledger entry {n} on Monday.\n",
            encoding="utf-8",
        )


def _markers(text: str) -> set[int]:
    return {int(number) for number in _MARKER.findall(text)}


def test_every_answer_comes_from_one_generation_while_updates_swap_them(tmp_path: Path) -> None:
    folder = tmp_path / "ledgers"
    index = tmp_path / "idx"
    _write_ledgers(folder, 1)
    build_index([folder], index, embedder=FakeEmbedder())
    updates = 8
    # Shared by their threads, so refreshes race searches and each other, as in the chat page.
    assistant = Assistant.open(index, embedder=FakeEmbedder())
    retriever = Retriever.open(index, embedder=FakeEmbedder())
    errors: list[BaseException] = []
    answered: dict[str, list[int]] = {}  # per thread: the generation of every reply, in order
    stop = threading.Event()

    def check_hits(hits: list[Hit]) -> int:
        assert len(hits) == LEDGERS, hits
        generations = {hit.generation for hit in hits}
        assert len(generations) == 1, f"one search mixed generations {generations}"
        generation = generations.pop()
        for hit in hits:
            assert _markers(hit.text) == {generation}, (generation, hit.text)
        return generation

    def check_answer(answer: Answer) -> int:
        assert answer.citations, answer
        for citation in answer.citations:
            assert _markers(citation.excerpt) == {answer.generation}, (answer.generation, citation.excerpt)
        assert _markers(answer.text) <= {answer.generation}, (answer.generation, answer.text)
        return answer.generation

    def asker(name: str) -> None:
        while not stop.is_set():
            try:
                assistant.refresh()
                answer = assistant.ask("What balance does the harbour ledger entry marker read?", as_of="2030-01-01")
                answered[name].append(check_answer(answer))
            except BaseException as exc:
                errors.append(exc)
                return

    def searcher(name: str) -> None:
        while not stop.is_set():
            try:
                retriever.refresh()
                hits = retriever.search("harbour ledger entry marker balance", k=LEDGERS, as_of="2030-01-01")
                answered[name].append(check_hits(hits))
            except BaseException as exc:
                errors.append(exc)
                return

    threads = []
    for n in range(2):
        for role, target in (("ask", asker), ("search", searcher)):
            name = f"{role}{n}"
            answered[name] = []
            threads.append(threading.Thread(target=target, args=(name,), name=name))
    for thread in threads:
        thread.start()
    try:
        for generation in range(2, updates + 2):
            _write_ledgers(folder, generation)
            summary = update_index([folder], index, embedder=FakeEmbedder())
            assert (summary.generation, len(summary.changed)) == (generation, LEDGERS)
            # Every reader moves on to the new generation (and so also reads while the next update runs).
            wait_for(
                lambda generation=generation: (
                    bool(errors) or all(replies and replies[-1] >= generation for replies in answered.values())
                )
            )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assistant.close()
        retriever.close()
    assert errors == []
    for name, replies in answered.items():
        assert set(range(2, updates + 2)) <= set(replies), name


def test_npy_headers_are_read_one_thread_at_a_time_while_readers_and_a_writer_race(
    tmp_path: Path, base_index: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy parses .npy headers with ast.literal_eval, which CPython 3.11 cannot run in two threads at once
    (python/cpython#106905: "SystemError: AST constructor recursion depth mismatch", seen in the test above under
    load). Here every header parse is slowed and counted: readers opening new segments and a writer purging and
    merging old ones in the same process never parse two headers at the same time."""
    corpus, index = base_index
    inside, most, guard = [0], [0], threading.Lock()
    parse = ast.literal_eval

    def counted(text: str) -> object:
        if not (isinstance(text, str) and text.lstrip().startswith("{'descr'")):  # not an .npy header
            return parse(text)
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            time.sleep(0.01)  # widens the window a second parse would have to land in
            return parse(text)
        finally:
            with guard:
                inside[0] -= 1

    monkeypatch.setattr(ast, "literal_eval", counted)
    merging = get_settings(merge_factor=2, keep_generations=1, progress=False)
    readers = [Retriever.open(index, embedder=FakeEmbedder()) for _ in range(3)]
    stop, errors, searches = threading.Event(), [], [0]

    def reader(retriever: Retriever) -> None:
        while not stop.is_set():
            try:
                retriever.refresh()
                retriever.search("comet seen by astronomers", k=3, as_of="2030-01-01")
                searches[0] += 1
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader, args=(r,)) for r in readers]
    for thread in threads:
        thread.start()
    try:
        for n in range(6):
            (corpus / f"comet{n}.txt").write_text(f"Comet {n} seen\n\nAstronomers saw comet number {n}.\n")
            assert update_index([corpus], index, embedder=FakeEmbedder(), settings=merging).published
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == [] and searches[0] > 0
    assert most[0] == 1, f"{most[0]} headers were parsed at the same time"


def test_a_header_read_disturbed_by_another_threads_ast_is_read_again(
    base_index: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other AST users of a process (an import defining pydantic models in another thread) cannot take the
    lock: a header parse they disturb raises CPython's SystemError, and the store reads the header again."""
    _, index = base_index
    parse, failures = ast.literal_eval, [2]

    def disturbed(text: str) -> object:
        if failures[0]:
            failures[0] -= 1
            raise SystemError("AST constructor recursion depth mismatch (before=147, after=49)")
        return parse(text)

    monkeypatch.setattr(ast, "literal_eval", disturbed)
    with Retriever.open(index, embedder=FakeEmbedder()) as retriever:  # opens (maps) every segment
        assert retriever.search("comet seen by astronomers", k=3, as_of="2030-01-01")
    assert failures == [0]
    rows = next((index / current(index) / "segments").glob("seg-*.rows.npy"))
    failures[0] = 1
    assert len(mapped_array(rows)) > 0 and failures == [0]
    failures[0] = ATTEMPTS  # as many as the attempts: the error stands
    with pytest.raises(SystemError, match="recursion depth mismatch"):
        mapped_array(rows)

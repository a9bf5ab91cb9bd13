"""The update's reconciliation on records alone: no store, no model (assistant/indexing/reconcile.py)."""

from __future__ import annotations

from pathlib import Path

from assistant.documents import Article
from assistant.index.records import ArticleRecord, Removal
from assistant.indexing.intake import Item
from assistant.indexing.reconcile import Kind, Reconciler, scope_of


def record(article: Article, file: Path, uid: int = 1) -> ArticleRecord:
    return ArticleRecord(
        uid, article.id, article.title, article.url, article.content_hash, article.copy_hash, str(file),
        str(file.parent), str(file),
    )  # fmt: skip


def item(article: Article, file: Path) -> Item:
    return Item(article, [], str(file), str(file.parent))


def test_new_changed_unchanged_and_gone(tmp_path: Path) -> None:
    a, b, c = (tmp_path / f"{n}.txt" for n in "abc")
    for path in (a, b, c):
        path.write_text("x")
    old_a = Article("a", "A", "The harbour reopened.")
    old_b = Article("b", "B", "The bridge closed.")
    old_c = Article("c", "C", "The ferry sailed.")
    existing = {r.id: r for r in (record(old_a, a, 1), record(old_b, b, 2), record(old_c, c, 3))}
    scope = scope_of(existing, {}, [tmp_path], prune=True)
    assert scope.covered == {"a", "b", "c"} and scope.vanished == frozenset()
    reconciler = Reconciler(existing, {}, scope)
    assert reconciler.consider(item(old_a, a)).kind is Kind.UNCHANGED
    assert reconciler.consider(item(Article("b", "B", "The bridge reopened."), b)).kind is Kind.CHANGED
    assert reconciler.consider(item(Article("d", "D", "A new story."), tmp_path / "d.txt")).kind is Kind.ADDED
    # c's file was read cleanly without it: gone; had its file failed to read, it would stay.
    assert reconciler.gone({str(a), str(b), str(c)}) == {"c"}
    assert reconciler.gone({str(a), str(b)}) == frozenset()


def test_a_vanished_file_is_gone_at_once_and_a_renamed_copy_is_indexed_not_refused(tmp_path: Path) -> None:
    old = tmp_path / "old.txt"
    article = Article("old.txt", "Story", "The council approved the budget.")
    existing = {"old.txt": record(article, old)}  # old.txt no longer exists on disk
    reconciler = Reconciler(existing, {}, scope_of(existing, {}, [tmp_path], prune=True))
    assert reconciler.scope.vanished == {"old.txt"}
    renamed = Article("new.txt", "Story", "The council approved the budget.")
    assert reconciler.consider(item(renamed, tmp_path / "new.txt")).kind is Kind.ADDED
    assert reconciler.gone(set()) == {"old.txt"}


def test_a_copy_of_an_article_that_may_be_gone_waits_for_the_end(tmp_path: Path) -> None:
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    for path in (first, second):
        path.write_text("x")
    text = "The museum reopened after a flood."
    existing = {"first": record(Article("first", "Museum", text), first)}
    reconciler = Reconciler(existing, {}, scope_of(existing, {}, [tmp_path], prune=True))
    copy = Article("second", "Museum", text)
    assert reconciler.consider(item(copy, second)).kind is Kind.DEFERRED
    # first.txt was read cleanly without its article: it is gone, so its copy is no longer one.
    gone = reconciler.gone({str(first), str(second)})
    assert gone == {"first"}
    assert [(i.article.id, v.kind) for i, v in reconciler.settle(gone)] == [("second", Kind.ADDED)]


def test_a_copy_of_a_live_article_is_refused(tmp_path: Path) -> None:
    kept, extra = tmp_path / "kept.txt", tmp_path / "extra.txt"
    kept.write_text("x")
    text = "The storm closed the port for two days."
    existing = {"kept": record(Article("kept", "Storm", text), kept)}
    reconciler = Reconciler(existing, {}, scope_of(existing, {}, [extra], prune=True))
    verdict = reconciler.consider(item(Article("extra", "Storm", text), extra))
    assert verdict.kind is Kind.REFUSED and verdict.refusal is not None and "kept" in verdict.refusal.reason


def test_a_removed_article_stays_out_unless_its_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    file = folder / "note.txt"
    file.write_text("x")
    article = Article("note.txt", "Note", "A note about the harbour.")
    removed = {"note.txt": Removal("note.txt", "Note", str(file), str(file), "2026-01-01T00:00:00Z")}
    through_folder = Reconciler({}, removed, scope_of({}, removed, [folder], prune=True))
    assert through_folder.consider(item(article, file)).kind is Kind.KEPT_OUT
    named = Reconciler({}, removed, scope_of({}, removed, [file], prune=True))
    verdict = named.consider(item(article, file))
    assert verdict.kind is Kind.ADDED and verdict.forgets_removal
    assert named.scope.path_ids == {str(file): "note.txt"}


def test_without_pruning_nothing_is_gone(tmp_path: Path) -> None:
    existing = {"x": record(Article("x", "X", "Text."), tmp_path / "x.txt")}
    reconciler = Reconciler(existing, {}, scope_of(existing, {}, [tmp_path], prune=False))
    assert reconciler.scope.covered == frozenset() and reconciler.gone(set()) == frozenset()

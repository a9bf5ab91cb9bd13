"""The house rules the code claims: stages import only downwards, `import assistant` stays light, the public API is
pinned, and every package folder is installed."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import assistant

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "assistant"
UI = REPO / "ui"

# The pipeline, lowest first: a module may import its own stage or a lower one, never a higher one.
STAGES: list[tuple[str, ...]] = [
    (
        "assistant.errors",
        "assistant.settings",
        "assistant.documents",
        "assistant.answers",
        "assistant.testing",
        "assistant.arrays",
    ),
    ("assistant.text",),
    ("assistant.ingest",),
    ("assistant.web",),  # fetching pages and feeds: the SSRF guard, conditional requests
    ("assistant.embed",),  # the embedding model, one module per backend
    ("assistant.reader",),  # the reader model: the span a passage answers a question with, one module per backend
    ("assistant.index",),  # the store: what both backends share, the protocol, and each backend in its own room
    ("assistant.indexing",),  # from files to a published generation: read, chunk, embed, reconcile, write
    ("assistant.retrieve",),
    ("assistant.llm",),
    ("assistant.answer",),
    ("assistant.watch",),  # news keeps arriving: feed rounds through the one writer, watched questions re-asked
    ("assistant",),  # the public API (assistant/__init__.py)
    ("assistant.cli", "assistant.__main__", "assistant_ui"),  # the entry points: the command line and the chat page
]


def stage_of(module: str) -> int:
    """The stage of a module: the longest prefix named in STAGES."""
    best, length = -1, -1
    for rank, names in enumerate(STAGES):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > length:
                best, length = rank, len(name)
    if best < 0:
        raise AssertionError(f"{module} belongs to no stage: add it to STAGES")
    return best


def module_name(path: Path) -> str:
    if path.is_relative_to(UI):
        parts = ["assistant_ui", *path.relative_to(UI).with_suffix("").parts]
    else:
        parts = ["assistant", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, name: str, *, package: bool = False) -> set[str]:
    """Every project module ``source`` (the module ``name``) imports: relative imports resolved, TYPE_CHECKING and
    function-level imports included."""
    parent = name if package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parent.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # "from . import x": x may itself be a module.
            found.update(f"{target}.{alias.name}" for alias in node.names if (PACKAGE / alias.name).is_dir())
    # The page's folder is ui/, installed as assistant_ui: an import of either name is an import of the page.
    named = {"assistant_ui." + m[3:] if m.startswith("ui.") else m for m in found}
    return {m for m in named if m.split(".")[0] in ("assistant", "assistant_ui")}


def upward(name: str, imports: set[str]) -> list[str]:
    """The imports of module ``name`` that belong to a higher stage than its own."""
    return sorted(m for m in imports if stage_of(m) > stage_of(name))


SOURCES = sorted([*PACKAGE.rglob("*.py"), *UI.rglob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_point_down_the_stages(path: Path) -> None:
    name = module_name(path)
    imports = imports_of(path.read_text(encoding="utf-8"), name, package=path.name == "__init__.py")
    assert not upward(name, imports), f"{path.relative_to(REPO)} imports higher stages: {upward(name, imports)}"


def test_the_stage_rule_catches_an_upward_import() -> None:
    """The check above can fail: the index stage importing the answerer, or the text stage the page, is reported."""
    source = "from ...answer.assistant import Assistant\nimport assistant.retrieve.retriever\nfrom .writer import X\n"
    imports = imports_of(source, "assistant.index.local.merging")
    assert imports == {"assistant.answer.assistant", "assistant.retrieve.retriever", "assistant.index.local.writer"}
    assert upward("assistant.index.local.merging", imports) == [
        "assistant.answer.assistant",
        "assistant.retrieve.retriever",
    ]
    assert upward("assistant.text.cleaning", imports_of("import ui.app\n", "assistant.text.cleaning")) == [
        "assistant_ui.app"
    ]


def test_import_assistant_loads_no_heavy_dependency() -> None:
    heavy = ("torch", "faiss", "numpy", "gradio", "sentence_transformers", "transformers", "trafilatura")
    code = f"import sys, assistant; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_public_api_is_pinned() -> None:
    assert assistant.__all__ == [
        "Answer",
        "AnswerStream",
        "Article",
        "Assistant",
        "AssistantError",
        "Chunk",
        "Citation",
        "ClusterError",
        "ConfigError",
        "Conflict",
        "Embedder",
        "EndpointError",
        "FetchError",
        "Filters",
        "Hit",
        "IndexCorruptError",
        "IndexDescription",
        "IndexLockedError",
        "IndexNotFoundError",
        "IndexSummary",
        "InputError",
        "ModelError",
        "ModelMismatchError",
        "NothingIndexedError",
        "Retriever",
        "RoundReport",
        "Settings",
        "Skipped",
        "StoreError",
        "StoreUnavailableError",
        "WatchedQuestion",
        "Watcher",
        "Watchlist",
        "build_index",
        "describe_index",
        "get_settings",
        "remove_articles",
        "update_index",
    ]
    for name in assistant.__all__:
        assert getattr(assistant, name) is not None
    # Nothing else public hangs off the package but its subpackages and modules.
    import types

    extra = {
        name
        for name, value in vars(assistant).items()
        if not name.startswith("_") and name not in assistant.__all__ and not isinstance(value, types.ModuleType)
    }
    assert extra <= {"TYPE_CHECKING", "Any", "annotations"}, extra


def test_every_package_folder_is_installed() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    folders = {module_name(init) for init in PACKAGE.rglob("__init__.py")} | {"assistant_ui"}
    assert set(config["packages"]) == folders
    assert config["package-dir"] == {"assistant_ui": "ui"}


def test_the_tree_stays_readable() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top
    assert not list(PACKAGE.rglob("utils.py")) and not list(PACKAGE.rglob("helpers.py"))
    lines = {str(p.relative_to(REPO)): len(p.read_text(encoding="utf-8").splitlines()) for p in SOURCES}
    long = {path: count for path, count in lines.items() if count > 400}
    assert not long, long


def test_every_setting_is_described_and_every_number_bounded() -> None:
    """One settings object, each field saying what it does; a number without bounds accepts nonsense silently."""
    import annotated_types

    from assistant.settings import Settings

    bounds = (annotated_types.Ge, annotated_types.Gt, annotated_types.Le, annotated_types.Lt)
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 15, name
        if field.annotation in (int, float):
            kinds = {type(m) for m in field.metadata if isinstance(m, bounds)}
            assert len(kinds) == 2, f"{name} needs a lower and an upper bound"


def _graph() -> dict[str, set[str]]:
    """Every module of the library and the page, and the project modules it imports (lazily and for type checks
    too): a package's ``__init__`` counts only when it holds code, since importing a subpackage runs nothing else."""
    modules = {module_name(path): path for path in SOURCES}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = imports_of(path.read_text(encoding="utf-8"), name, package=path.name == "__init__.py")
        graph[name] = {m for m in found if m in modules and m != name and _has_code(modules[m])}
    return graph


def _has_code(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in tree.body)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, or None (depth-first search; the lists are short)."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_itself_through_others() -> None:
    """No import cycle between modules, lazy and type-checking imports included."""
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def test_the_cycle_check_can_tell() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


# Each backend in its own room: one never imports the other; what both need lives in the room above them.
BACKENDS = [
    ("assistant.index.local", "assistant.index.milvus"),
    ("assistant.embed.torch", "assistant.embed.openvino"),
    ("assistant.reader.torch", "assistant.reader.openvino"),
]


@pytest.mark.parametrize(("one", "other"), [*BACKENDS, *[(b, a) for a, b in BACKENDS]])
def test_a_backend_never_imports_another(one: str, other: str) -> None:
    graph = _graph()
    offending = {
        (name, target)
        for name, targets in graph.items()
        if name == one or name.startswith(one + ".")
        for target in targets
        if target == other or target.startswith(other + ".")
    }
    assert not offending, offending


def test_the_store_protocols_are_typed_with_frozen_values() -> None:
    """What crosses the store's seam: no ``Any`` (so no ``dict[str, Any]``) in the protocols, and every record a
    frozen dataclass (or a named tuple)."""
    import dataclasses

    from assistant.index import records, store

    source = (PACKAGE / "index" / "store.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    protocols = [
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name in ("StoreReader", "StoreWriter", "Backend")
    ]
    assert len(protocols) == 3
    for node in protocols:
        text = ast.get_source_segment(source, node) or ""
        assert not re.search(r"\bAny\b", text), node.name
    for name in records.__all__:
        value = getattr(records, name)
        if isinstance(value, type) and not issubclass(value, tuple):
            assert dataclasses.is_dataclass(value) and value.__dataclass_params__.frozen, name  # type: ignore[attr-defined]
    assert store.backend_for.__module__ == "assistant.index.store"

"""The house rules the code claims: stages import only downwards, `import assistant` stays light, the public API is
pinned, and every package folder is installed."""

from __future__ import annotations

import ast
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
    ("assistant.errors", "assistant.settings", "assistant.documents", "assistant.answers", "assistant.testing"),
    ("assistant.text",),
    ("assistant.ingest",),
    ("assistant.embed",),  # the embedding model, one module per backend
    ("assistant.index",),  # the store: what both backends share, the protocol, and each backend in its own room
    ("assistant.indexing",),  # from files to a published generation: read, chunk, embed, reconcile, write
    ("assistant.retrieve",),
    ("assistant.llm",),
    ("assistant.answer",),
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
        "Hit",
        "IndexCorruptError",
        "IndexLockedError",
        "IndexNotFoundError",
        "IndexSummary",
        "InputError",
        "ModelError",
        "ModelMismatchError",
        "NothingIndexedError",
        "Retriever",
        "Settings",
        "Skipped",
        "StoreError",
        "StoreUnavailableError",
        "build_index",
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
    long = {path: count for path, count in lines.items() if count > 450}
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

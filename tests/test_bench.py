"""The benchmarks are one package: every module of it imports, and so does every project module or name they
import inside a function (a library module renamed or moved under a benchmark fails here, not when the benchmark is
next run); none edits sys.path; each runs as ``python -m bench.<name>`` and skips cleanly without its data; and
what they share behaves as they expect."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
MODULES = sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__")
SUPPORT = {"harness", "scale_corpus", "squad"}  # shared code, not benchmarks
BENCHMARKS = [name for name in MODULES if name not in SUPPORT]


@pytest.fixture(scope="module")
def bench() -> Iterator[None]:
    """This checkout's bench package importable, whatever folder pytest was started from."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO))
        package = importlib.import_module("bench")
        assert Path(package.__file__ or "").resolve().parent == BENCH
        yield


def test_the_package_has_every_benchmark() -> None:
    assert (BENCH / "__init__.py").is_file()
    assert len(BENCHMARKS) == 18, BENCHMARKS
    assert not (BENCH / "audit.py").exists() and (REPO / "tools" / "audit.py").is_file()
    docstring = (BENCH / "__init__.py").read_text(encoding="utf-8")
    assert all(f"python -m bench.{name}" in docstring for name in BENCHMARKS)


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports_without_running(bench: None, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert capsys.readouterr() == ("", "")  # importing ran nothing
    if name in BENCHMARKS:
        assert callable(module.main)
        assert 'if __name__ == "__main__":' in Path(module.__file__ or "").read_text(encoding="utf-8")


def project_imports(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name or None) of every import of the library or the bench package in a bench module,
    function-level imports included (most benchmarks import the library where they use it)."""
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = ".".join(filter(None, ["bench" if node.level else None, node.module]))
            found += [(node.lineno, module, alias.name) for alias in node.names]
    return [(line, module, name) for line, module, name in found if module.split(".")[0] in ("assistant", "bench")]


def unresolved(path: Path) -> list[str]:
    """The project imports of ``path`` that fail: a module that is not there, or a name it does not hold."""
    missing = []
    for line, module, imported in project_imports(path):
        try:
            target = importlib.import_module(module)
        except ImportError:
            missing.append(f"line {line}: no module {module}")
            continue
        submodule = hasattr(target, "__path__") and importlib.util.find_spec(f"{module}.{imported}") is not None
        if imported and not hasattr(target, imported) and not submodule:
            missing.append(f"line {line}: no {imported} in {module}")
    return missing


@pytest.mark.parametrize("name", MODULES)
def test_every_project_import_resolves(bench: None, name: str) -> None:
    assert not unresolved(BENCH / f"{name}.py")


def test_the_import_check_can_fail(bench: None, tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from bench.harness import percentile\nfrom assistant.index.local import search\n\n\ndef main():\n"
        "    from assistant.index.gone import X\n    from assistant.settings import Nothing, get_settings\n",
        encoding="utf-8",
    )
    assert unresolved(probe) == ["line 6: no module assistant.index.gone", "line 7: no Nothing in assistant.settings"]


def test_no_file_under_bench_mentions_sys_path() -> None:
    found = [
        str(path.relative_to(REPO))
        for path in BENCH.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and "results" not in path.relative_to(BENCH).parts
        if b"sys" + b".path" in path.read_bytes()
    ]
    assert not found, f"import through the bench package instead: {found}"


def test_the_modules_stay_readable() -> None:
    lines = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in BENCH.glob("*.py")}
    assert not {name: count for name, count in lines.items() if count >= 400}
    assert not {"utils.py", "helpers.py"} & set(lines)


def test_a_benchmark_runs_as_a_module_and_skips_without_its_data(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.retrieval_realtimeqa", "--data", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"skip: RealTime QA data not found in {tmp_path}")
    assert "corpus.jsonl" in run.stdout


# -- the harness -----------------------------------------------------------------------------------------------------
def test_percentile_is_nearest_rank_and_nan_when_empty(bench: None) -> None:
    from bench.harness import percentile

    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert [percentile(values, q) for q in (0.0, 0.5, 0.95, 1.0)] == [1.0, 3.0, 5.0, 5.0]
    assert math.isnan(percentile([], 0.95))


def test_fmt_writes_rates_with_three_decimals_and_the_rest_with_one(bench: None) -> None:
    from bench.harness import fmt

    assert [fmt(None), fmt(0.74812), fmt(34.567), fmt(1069.5), fmt(3)] == ["-", "0.748", "34.6", "1069.5", "3.0"]


def test_jsonl_and_saved_figures(bench: None, tmp_path: Path) -> None:
    from bench.harness import load_jsonl, save_figures, write_jsonl

    write_jsonl(tmp_path / "rows.jsonl", [{"q": "Zürich?"}, {"q": "b"}])
    assert (tmp_path / "rows.jsonl").read_text(encoding="utf-8") == '{"q": "Zürich?"}\n{"q": "b"}\n'
    (tmp_path / "gaps.jsonl").write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert load_jsonl(tmp_path / "gaps.jsonl") == [{"a": 1}, {"a": 2}]
    target = tmp_path / "results" / "figures.json"
    save_figures(None, {"x": 1})  # no --save: nothing written, no error
    save_figures(target, {"recall@1": 0.5})
    assert target.read_text(encoding="utf-8").endswith("}\n")
    assert json.loads(target.read_text(encoding="utf-8")) == {"recall@1": 0.5}


def test_has_data_names_what_is_missing(bench: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.harness import DATA_ROOT, REALTIMEQA, has_data

    assert REALTIMEQA.folder == DATA_ROOT / "realtimeqa"
    assert DATA_ROOT.relative_to(REPO.parent) == Path("shared", "bench")
    (tmp_path / "queries_dev.jsonl").write_text("", encoding="utf-8")
    assert has_data(tmp_path, REALTIMEQA, ["queries_dev.jsonl"])
    assert capsys.readouterr().out == ""
    assert not has_data(tmp_path, REALTIMEQA)
    out = capsys.readouterr().out
    assert out.startswith("skip: RealTime QA data not found") and "missing corpus.jsonl;" in out


def test_free_port_is_bindable(bench: None) -> None:
    import socket

    from bench.harness import free_port

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))

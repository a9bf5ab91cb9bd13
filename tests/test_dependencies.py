"""The installed Gradio, and every Gradio pyproject.toml admits, has the fix of the last published file-access
advisory (6.16.0); and the audit's verdicts, from canned PyPI answers (tools/audit.py)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
FIXED = Version("6.16.0")  # the release that fixed the last published Gradio file-access advisory
LOWER_BOUNDS = (">=", ">", "==", "===", "~=")


def gradio_requirement() -> Requirement:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = [Requirement(line) for line in project["dependencies"] if Requirement(line).name.lower() == "gradio"]
    assert len(found) == 1, found
    return found[0]


def admits_nothing_below(specifier: SpecifierSet, floor: Version) -> bool:
    """True when some clause of the specifier alone keeps every version below ``floor`` out.

    A clause ">=X" / "==X" / "~=X" / "===X" with X at or above the floor does, and so does ">X" with X at or above
    it; clauses are ANDed, so one such clause is enough and nothing else can widen it.
    """
    return any(
        clause.operator in LOWER_BOUNDS and not clause.version.endswith(".*") and Version(clause.version) >= floor
        for clause in specifier
    )


def test_the_installed_gradio_has_the_file_access_fix() -> None:
    installed = Version(importlib.metadata.version("gradio"))
    assert installed >= FIXED, f"gradio {installed} is older than {FIXED}: pip install -e . to upgrade it"


def test_pyproject_cannot_install_a_gradio_without_the_fix() -> None:
    specifier = gradio_requirement().specifier
    assert admits_nothing_below(specifier, FIXED), f"gradio{specifier} admits a version older than {FIXED}"
    for older in ("6.15.9", "6.15.0", "6.16.0rc1", "6.16.0b2", "6.0.0", "5.50.0", "4.44.1", "3.50.2"):
        assert not specifier.contains(older, prereleases=True), older
    assert specifier.contains(importlib.metadata.version("gradio"), prereleases=True)


@pytest.mark.parametrize(
    ("specifier", "safe"),
    [
        (">=6.16", True),
        (">=6.16.0,<7", True),
        ("~=6.16", True),
        ("==6.31.0", True),
        (">6.16.0", True),
        (">=6.15", False),
        ("<7", False),
        ("", False),
        ("!=6.15.0", False),
        ("==6.*", False),
        (">=6.15,!=6.15.*", False),  # still admits 6.16.0rc1
    ],
)
def test_the_lower_bound_check_can_tell(specifier: str, safe: bool) -> None:
    assert admits_nothing_below(SpecifierSet(specifier), FIXED) is safe


# -- the audit (tools/audit.py), against canned answers: no network --------------------------------------------
@pytest.fixture(scope="module")
def audit():
    spec = importlib.util.spec_from_file_location("audit", REPO / "tools" / "audit.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("audit", None)


def project_json(latest: str, vulnerabilities: list[dict] | None = None, releases: tuple[str, ...] = ()) -> dict:
    return {
        "info": {"version": latest},
        "releases": {version: [{"yanked": False}] for version in (*releases, latest)},
        "vulnerabilities": vulnerabilities or [],
    }


VULN = {
    "id": "GHSA-xxxx-yyyy-zzzz",
    "aliases": ["CVE-2099-0001"],
    "fixed_in": ["2.1"],
    "withdrawn": None,
    "details": "Reading any file.",
    "summary": None,
    "link": "https://osv.dev/vulnerability/GHSA-xxxx-yyyy-zzzz",
}


def test_a_package_at_its_latest_release_is_audited(audit) -> None:
    clean = audit.judge("alpha", "1.2.0", project_json("1.2.0", releases=("1.0",)))
    assert clean.audited and clean.vulnerabilities == []
    vulnerable = audit.judge("beta", "2.0", project_json("2.0", [VULN]))
    assert vulnerable.audited and [v["id"] for v in vulnerable.vulnerabilities] == ["GHSA-xxxx-yyyy-zzzz"]
    withdrawn = audit.judge("gamma", "2.0", project_json("2.0", [{**VULN, "withdrawn": "2024-01-01T00:00:00"}]))
    assert withdrawn.audited and withdrawn.vulnerabilities == []
    # A local build of the latest release (torch's +cpu) is that release.
    assert audit.judge("torch", "2.13.0+cpu", project_json("2.13.0")).audited


def test_a_package_behind_its_latest_release_is_counted_as_not_audited(audit) -> None:
    """PyPI's project JSON lists the vulnerabilities of the latest release only: an older one cannot be judged."""
    older = audit.judge("delta", "1.0", project_json("1.1", [VULN], releases=("1.0",)))
    assert not older.audited and older.vulnerabilities == [] and "latest is 1.1" in older.reason
    missing = audit.judge("epsilon", "1.0", None)
    assert not missing.audited and "not on PyPI" in missing.reason


def test_one_advisory_under_several_ids_and_sources_counts_once(audit) -> None:
    twins = [VULN, {**VULN, "id": "PYSEC-2099-7", "aliases": ["CVE-2099-0001", "GHSA-xxxx-yyyy-zzzz"]}]
    finding = audit.judge("beta", "2.0", project_json("2.0", twins))
    same = audit.PipAudit(True, 1, 0, [audit.Vuln("beta", "2.0", "PYSEC-2099-7", ("CVE-2099-0001",))])
    assert [v.id for v in audit.vulnerabilities([finding], same)] == ["GHSA-xxxx-yyyy-zzzz"]


def test_the_verdict_fails_only_on_a_vulnerability(audit, capsys: pytest.CaptureFixture[str]) -> None:
    clean = [audit.judge("alpha", "1.0", project_json("1.0")), audit.judge("delta", "1.0", project_json("1.1"))]
    assert audit.verdict(clean) == 0
    assert "audited 1 of 2" in capsys.readouterr().out
    outage = [*clean, audit.Finding("zeta", "1.0", audit.UNREACHABLE, "ConnectError")]
    assert audit.verdict(outage, note="PyPI could not be reached (ConnectError)") == 0  # warns, does not fail
    assert "WARNING: PyPI could not be reached" in capsys.readouterr().out
    found = [*clean, audit.judge("beta", "2.0", project_json("2.0", [VULN]))]
    assert audit.verdict(found) == 1
    out = capsys.readouterr().out
    assert "VULNERABLE beta 2.0: GHSA-xxxx-yyyy-zzzz (CVE-2099-0001; fixed in 2.1)" in out and "audited 2 of 3" in out
    # An advisory judged not to apply is let through by any of its names, and said so.
    assert audit.verdict(found, ignore={"CVE-2099-0001": "only reachable with a flag we never set"}) == 0
    out = capsys.readouterr().out
    assert "ignored beta 2.0: GHSA-xxxx-yyyy-zzzz" in out and "only reachable with a flag" in out and "1 ignored" in out
    assert audit.verdict(found, ignore={"GHSA-aaaa-bbbb-cccc": "another one"}) == 1
    assert "ignored but not found" in capsys.readouterr().out
    # pip-audit's findings count too (where it can reach its services), and its failing to run only warns.
    assert audit.verdict(clean, audit.PipAudit(True, 2, 0, [audit.Vuln("alpha", "1.0", "PYSEC-2099-1")])) == 1
    assert audit.verdict(clean, audit.PipAudit(False, note="pip-audit failed (exit 1): ConnectionError")) == 0
    assert "WARNING: pip-audit failed" in capsys.readouterr().out


def test_pip_audit_skipping_a_package_is_not_counted_as_auditing_it(audit) -> None:
    report = {
        "dependencies": [
            {"name": "alpha", "version": "1.0", "vulns": []},
            {"name": "beta", "version": "2.0", "vulns": [{"id": "PYSEC-2099-1", "fix_versions": ["2.1"]}]},
            {"name": "gamma", "skip_reason": "Dependency not found on PyPI and could not be audited: gamma (3.0)"},
        ],
        "fixes": [],
    }
    parsed = audit.parse_pip_audit(json.dumps(report))
    assert (parsed.audited, parsed.skipped) == (2, 1)
    assert [str(v) for v in parsed.vulnerabilities] == ["beta 2.0: PYSEC-2099-1 (fixed in 2.1)"]
    assert parsed.note == "Dependency not found on PyPI and could not be audited"

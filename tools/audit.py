"""Audit the installed packages for known vulnerabilities, with what this network answers; `make audit` runs it.

    .venv/bin/python tools/audit.py [--workers 8] [--timeout 20] [--skip-pip-audit]

Why not pip-audit alone: its PyPI service asks ``https://pypi.org/pypi/<name>/<version>/json``, which answers 404
here, and its OSV (api.osv.dev) and ecosyste.ms services do not resolve. So it reports every package as "Dependency
not found on PyPI and could not be audited", prints "No known vulnerabilities found" and exits 0 having audited
nothing; ``--index-url``, ``-r`` with a freeze file, ``--no-deps`` and ``--disable-pip`` change how it lists
packages, not where it looks vulnerabilities up. It still runs (its verdict is printed and counts), so on a network
where it works it audits every version.

What does answer is the project JSON, ``https://pypi.org/pypi/<name>/json``: its ``vulnerabilities`` are those of
the project's latest release. A package whose installed version is that release is audited from it; any other is
counted as not audited, and listed, never passed as clean.

Exit 1 when a known vulnerability applies to an installed version; 0 otherwise, including when PyPI cannot be
reached (a clear WARNING then): the build fails on a finding, not on an outage.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.metadata
import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

PYPI = "https://pypi.org/pypi/{name}/json"
AUDITED, BEHIND, NOT_ON_PYPI, LOCAL, UNREACHABLE = (
    "audited",
    "behind the latest release",
    "not on PyPI",
    "installed from a folder",
    "PyPI did not answer",
)


@dataclass
class Finding:
    name: str
    installed: str
    status: str
    reason: str = ""
    vulnerabilities: list[dict[str, Any]] = field(default_factory=list)

    @property
    def audited(self) -> bool:
        return self.status == AUDITED


@dataclass
class PipAudit:
    """pip-audit's own verdict: how many packages it really looked up, and what it found."""

    ran: bool
    audited: int = 0
    skipped: int = 0
    vulnerabilities: list[Vuln] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class Vuln:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...] = ()
    fixed_in: tuple[str, ...] = ()
    link: str = ""

    @property
    def names(self) -> set[str]:
        return {self.id, *self.aliases}

    def __str__(self) -> str:
        aliases = f"{', '.join(self.aliases)}; " if self.aliases else ""
        fixed = ", ".join(self.fixed_in) or "no fix yet"
        return f"{self.package} {self.version}: {self.id} ({aliases}fixed in {fixed}) {self.link}".rstrip()


def installed_distributions() -> list[tuple[str, str, bool]]:
    """(name, version, local) of each distribution this interpreter imports, first on sys.path winning.

    Local means installed from a folder (this project, editable): a PyPI project of the same name is someone else's.
    """
    seen: dict[str, tuple[str, str, bool]] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name or canonicalize_name(name) in seen:
            continue
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
        # A local wheel (file: with archive_info) is a PyPI project's build: audited like one.
        from_file = str(direct.get("url", "")).startswith("file:")
        local = "dir_info" in direct or (from_file and "archive_info" not in direct)
        seen[canonicalize_name(name)] = (canonicalize_name(name), dist.version, local)
    return sorted(seen.values())


def judge(name: str, installed: str, project: dict[str, Any] | None) -> Finding:
    """What PyPI's project JSON (None: no such project) says about one installed version."""
    if project is None:
        return Finding(name, installed, NOT_ON_PYPI, "not on PyPI")
    latest = project["info"]["version"]
    try:
        current = Version(Version(installed).public) == Version(latest)  # torch 2.13.0+cpu is release 2.13.0
    except InvalidVersion:
        current = installed == latest
    if not current:
        return Finding(name, installed, BEHIND, f"latest is {latest}; PyPI lists vulnerabilities of the latest only")
    vulnerabilities = [v for v in project.get("vulnerabilities") or [] if not v.get("withdrawn")]
    return Finding(name, installed, AUDITED, vulnerabilities=vulnerabilities)


def fetch_project(client: httpx.Client, name: str) -> dict[str, Any] | None:
    """The project JSON, or None when PyPI has no such project."""
    url = PYPI.format(name=name)
    try:
        response = client.get(url)
    except httpx.TransportError:
        response = client.get(url)  # once more: a dropped connection happens, an outage fails again
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


def audit(workers: int, timeout: float) -> tuple[list[Finding], str]:
    """Findings for every installed distribution, and a note when PyPI could not be reached at all."""
    packages = installed_distributions()
    findings = [
        Finding(name, version, LOCAL, "installed from a local folder") for name, version, local in packages if local
    ]
    remote = [(name, version) for name, version, local in packages if not local]
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:  # honours HTTPS_PROXY, as pip does
        try:  # one probe first: an outage costs one timeout, not one per package
            fetch_project(client, "pip")
        except httpx.HTTPError as exc:
            note = f"PyPI could not be reached ({type(exc).__name__}: {exc})"
            return findings + [Finding(n, v, UNREACHABLE, note) for n, v in remote], note

        def one(package: tuple[str, str]) -> Finding:
            name, version = package
            try:
                return judge(name, version, fetch_project(client, name))
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                return Finding(name, version, UNREACHABLE, f"no usable answer from PyPI ({type(exc).__name__})")

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            findings += pool.map(one, remote)
    return sorted(findings, key=lambda f: f.name), ""


def run_pip_audit(timeout: float) -> PipAudit:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--local",
        "--skip-editable",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--timeout",
        str(int(timeout)),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return PipAudit(False, note=f"pip-audit did not finish ({type(exc).__name__})")
    try:
        return parse_pip_audit(done.stdout)
    except (json.JSONDecodeError, KeyError, TypeError):
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return PipAudit(False, note=f"pip-audit failed (exit {done.returncode}): {last[0][:300]}")


def parse_pip_audit(output: str) -> PipAudit:
    """pip-audit's JSON report, counted: a package it skipped was not audited, whatever its exit code says."""
    dependencies = json.loads(output)["dependencies"]
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulns = [
        Vuln(d["name"], d["version"], v["id"], tuple(v.get("aliases", [])), tuple(v.get("fix_versions", [])))
        for d in dependencies
        for v in d.get("vulns", [])
    ]
    reasons = {d["skip_reason"].split(":")[0] for d in skipped}
    return PipAudit(True, len(dependencies) - len(skipped), len(skipped), vulns, "; ".join(sorted(reasons)))


def _names(findings: list[Finding], limit: int = 20) -> str:
    shown = ", ".join(f"{f.name} {f.installed}" for f in findings[:limit])
    return shown + (f", … ({len(findings) - limit} more)" if len(findings) > limit else "")


def vulnerabilities(findings: list[Finding], pip_audit: PipAudit | None) -> list[Vuln]:
    """Every known vulnerability of an installed version, once: one advisory under several ids (GHSA, PYSEC, CVE)
    and from both sources counts as one."""
    found = [
        Vuln(
            f.name,
            f.installed,
            v["id"],
            tuple(v.get("aliases") or ()),
            tuple(v.get("fixed_in") or ()),
            v.get("link") or "",
        )
        for f in findings
        if f.audited
        for v in f.vulnerabilities
    ]
    if pip_audit is not None:
        found += pip_audit.vulnerabilities
    unique: list[Vuln] = []
    for vuln in found:
        if not any(vuln.package == seen.package and vuln.names & seen.names for seen in unique):
            unique.append(vuln)
    return unique


def verdict(
    findings: list[Finding], pip_audit: PipAudit | None = None, note: str = "", ignore: dict[str, str] | None = None
) -> int:
    """Print the report; 1 when a known vulnerability applies and is not ignored, else 0 (network trouble warns).

    ``ignore`` maps an advisory id (or any of its aliases) to why it does not apply here; ignored ones are printed.
    """
    ignore = ignore or {}
    by_status = {
        status: [f for f in findings if f.status == status]
        for status in (AUDITED, BEHIND, NOT_ON_PYPI, LOCAL, UNREACHABLE)
    }
    audited = by_status[AUDITED]
    print(
        f"audit (PyPI project JSON): audited {len(audited)} of {len(findings)} installed packages, "
        f"{len(findings) - len(audited)} could not be audited"
    )
    for status in (BEHIND, NOT_ON_PYPI, LOCAL, UNREACHABLE):
        if by_status[status]:
            print(f"  {status}: {len(by_status[status])} ({_names(by_status[status])})")
    if pip_audit is not None and pip_audit.ran:
        print(
            f"pip-audit: audited {pip_audit.audited} of {pip_audit.audited + pip_audit.skipped} packages, "
            f"{len(pip_audit.vulnerabilities)} known vulnerabilities"
            + (f"; skipped: {pip_audit.note}" if pip_audit.skipped else "")
        )
    elif pip_audit is not None:
        print(f"WARNING: {pip_audit.note}")
    applied, ignored = [], []
    for vuln in vulnerabilities(findings, pip_audit):
        reasons = [ignore[name] for name in sorted(vuln.names) if name in ignore]
        (ignored if reasons else applied).append((vuln, reasons[0] if reasons else ""))
    for vuln, reason in ignored:
        print(f"  ignored {vuln}: {reason}")
    for vuln, _ in applied:
        print(f"  VULNERABLE {vuln}")
    stale = sorted(set(ignore) - {name for vuln, _ in ignored for name in vuln.names})
    if stale and not by_status[UNREACHABLE]:
        print(f"  ignored but not found (drop from the ignore list?): {', '.join(stale)}")
    if note or by_status[UNREACHABLE]:
        print(
            f"WARNING: {note or 'PyPI did not answer for ' + str(len(by_status[UNREACHABLE])) + ' packages'}; "
            "those are not audited, and the build is not failed for it"
        )
    if applied:
        print(f"audit: FAILED, {len(applied)} known vulnerabilities apply to installed versions")
        return 1
    if not audited:
        print("audit: NOTHING AUDITED, so nothing found; not failing the build for it")
        return 0
    print(
        f"audit: OK, no known vulnerability in the {len(audited)} packages that could be audited"
        + (f" ({len(ignored)} ignored)" if ignored else "")
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=8, help="parallel requests to PyPI")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per request")
    parser.add_argument("--skip-pip-audit", action="store_true", help="do not run pip-audit as well")
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="ID=WHY",
        help="an advisory (id or alias) that does not apply here, and why; printed, never silent",
    )
    args = parser.parse_args()
    ignore = {}
    for item in args.ignore:
        advisory, _, why = item.partition("=")
        if not why.strip():
            parser.error(f"--ignore {item!r}: say why, as ID=REASON")
        ignore[advisory.strip()] = why.strip()
    findings, note = audit(args.workers, args.timeout)
    pip_audit = None if args.skip_pip_audit or note else run_pip_audit(args.timeout)
    if note and not args.skip_pip_audit:
        pip_audit = PipAudit(False, note="pip-audit not run: PyPI could not be reached")
    return verdict(findings, pip_audit, note, ignore)


if __name__ == "__main__":
    sys.exit(main())

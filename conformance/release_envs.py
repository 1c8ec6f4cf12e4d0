"""Cached environments with one release of a framework installed, and the suite run in them (for the bisect).

Each environment is a uv venv under ``CACHE/envs/``, named by the package, its version and a hash of
everything else that decides its contents (the suite's wheel, the pins); a report of a run is kept
beside it under ``CACHE/reports/``, named by the same key and a hash of the pytest arguments. A second
bisect over the same releases installs nothing and runs nothing it has run before. The cache is
``$BGTASKS_CACHE``, else ``~/.cache/bgtasks-conformance`` (never the working tree).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

CACHE_VARIABLE = "BGTASKS_CACHE"
# What an old release needs beside it to run at all (the releases' own metadata allow newer ones that break them):
# Starlette < 0.31 and FastAPI < 0.108 (Starlette 0.27/0.28) were written for anyio 3 and pydantic of their time.
ERA_PINS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "starlette": (("<0.31", ("anyio<4",)),),
    "fastapi": (("<0.108", ("anyio<4", "pydantic<2.6")),),
}
SUITE_PARTS = ("conformance", "spec", "sample_app", "starlette_app", "tools/hatch_build.py", "pyproject.toml")
NEVER = 'python_version < "3"'  # an override with this marker drops the requirement


class SetupFailed(RuntimeError):
    """An environment could not be built (the release does not install beside the suite)."""


def cache_dir(environ: dict[str, str] | None = None) -> Path:
    environ = dict(os.environ) if environ is None else environ
    if environ.get(CACHE_VARIABLE):
        return Path(environ[CACHE_VARIABLE])
    return Path.home() / ".cache" / "bgtasks-conformance"


def uv() -> list[str]:
    """The uv command: the ``uv`` module of this interpreter's environment, else ``uv`` on PATH."""
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found]

        return [str(find_uv_bin())]
    except ImportError:
        found = shutil.which("uv")
        if found is None:
            raise SystemExit("the bisect needs uv: python -m pip install uv") from None
        return [found]


def era_pins(package: str, version: str) -> list[str]:
    """The pins an old release of ``package`` needs (see :data:`ERA_PINS`)."""
    parsed = Version(version)
    return [pin for spec, pins in ERA_PINS.get(package, ()) if SpecifierSet(spec).contains(parsed) for pin in pins]


def releases(package: str, low: str, high: str, listed: Sequence[str] | None = None) -> list[str]:
    """The final releases of ``package`` from ``low`` to ``high`` (both included), oldest first.

    ``listed`` gives the candidates; without it pip asks the package index (``pip index versions``).
    """
    if listed is None:
        listed = _index_versions(package)
    versions = []
    for text in listed:
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if not version.is_prerelease and not version.is_devrelease and Version(low) <= version <= Version(high):
            versions.append(version)
    return [str(v) for v in sorted(set(versions))]


def _index_versions(package: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pip", "index", "versions", package], capture_output=True,
                          text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("Available versions:"):
            return [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
    raise SystemExit(f"could not list the releases of {package} (pip index versions {package}): "
                     f"{done.stderr.strip()[-400:]}; give them with --versions")


def suite_hash(root: Path) -> str:
    """A hash of the suite's sources: a changed checkout gets fresh environments."""
    digest = hashlib.sha256()
    for part in SUITE_PARTS:
        path = root / part
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts or not file.exists():
                continue
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


@dataclass
class Setup:
    """What every environment of one bisect shares."""

    package: str
    suite: Path  # the checkout of the suite
    cache: Path
    pins: tuple[str, ...] = ()  # more requirements, e.g. "fastapi==0.114.2"
    drop: tuple[str, ...] = ()  # the suite's own requirements to leave out (e.g. fastapi, for a Starlette bisect)
    pytest_args: tuple[str, ...] = ()
    rerun: bool = False  # run the suite again even where a report is cached
    log: Any = field(default=sys.stderr, repr=False)
    built: dict[str, int] = field(default_factory=lambda: {"created": 0, "reused": 0, "runs": 0, "cached": 0})
    _wheel: Path | None = None

    def wheel(self) -> Path:
        """The suite's wheel, built once per checkout state."""
        if self._wheel is None:
            out = self.cache / "wheels" / suite_hash(self.suite)
            existing = sorted(out.glob("*.whl"))
            if not existing:
                out.mkdir(parents=True, exist_ok=True)
                _run([*uv(), "build", "--wheel", "-q", "-o", str(out), str(self.suite)], self.log)
                existing = sorted(out.glob("*.whl"))
            self._wheel = existing[-1]
        return self._wheel

    def overrides(self, version: str) -> list[str]:
        return [f"{self.package}=={version}", *era_pins(self.package, version), *self.pins,
                *(f"{name} ; {NEVER}" for name in self.drop)]

    def key(self, version: str) -> str:
        digest = hashlib.sha256(json.dumps([self.wheel().name, suite_hash(self.suite), self.overrides(version)])
                                .encode()).hexdigest()[:10]
        return f"{self.package}-{version}-{digest}"

    def environment(self, version: str) -> Path:
        """The venv with this release installed beside the suite: made once, then reused."""
        env = self.cache / "envs" / self.key(version)
        python = env / "bin" / "python"
        if (env / ".complete").is_file():
            self.built["reused"] += 1
            return python
        shutil.rmtree(env, ignore_errors=True)
        env.parent.mkdir(parents=True, exist_ok=True)
        _run([*uv(), "venv", "-q", "--python", sys.executable, str(env)], self.log)
        overrides = env / "overrides.txt"
        overrides.write_text("\n".join(self.overrides(version)) + "\n")
        try:
            _run([*uv(), "pip", "install", "-q", "--python", str(python), "--override", str(overrides),
                  str(self.wheel())], self.log)
        except SetupFailed:
            shutil.rmtree(env, ignore_errors=True)
            raise
        (env / ".complete").write_text(version + "\n")
        self.built["created"] += 1
        return python

    def report(self, version: str) -> dict[str, Any]:
        """The suite's JSON report on this release (cached per environment and pytest arguments)."""
        args_hash = hashlib.sha256(json.dumps(self.pytest_args).encode()).hexdigest()[:10]
        path = self.cache / "reports" / f"{self.key(version)}-{args_hash}.json"
        if path.is_file() and not self.rerun:
            self.built["cached"] += 1
            return dict(json.loads(path.read_text()))
        python = self.environment(version)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        with tempfile.TemporaryDirectory(prefix="bgtasks-bisect-") as scratch:
            command = [str(python), "-m", "pytest", "--pyargs", "bgtasks_conformance.spec", "-p", "no:cacheprovider",
                       "-q", "--bgtasks-report", str(path), *self.pytest_args]
            done = subprocess.run(command, cwd=scratch, capture_output=True, text=True, check=False)
        self.built["runs"] += 1
        if not path.is_file():
            raise SetupFailed(f"the suite wrote no report on {self.package} {version} (exit {done.returncode}):"
                                    f"\n{(done.stdout + done.stderr).strip()[-1500:]}")
        return dict(json.loads(path.read_text()))


def _run(command: list[str], log: Any) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SetupFailed(f"{' '.join(command[:4])} ... failed (exit {done.returncode}):\n"
                                f"{(done.stdout + done.stderr).strip()[-1500:]}")

"""The frameworks' own test suites, for the comparison: each release's tests from its sdist, in a throwaway env.

For a framework installed here (same version, and Starlette, FastAPI, pydantic and anyio pinned to this
environment's versions), the sdist is downloaded from the package index (``pip download --no-binary :all:``)
and unpacked, its tests' dependencies installed into a virtual environment of its own under the cache folder
(default ``~/.cache/bgtasks-conformance/mutation``, never the checkout), and kept there for the next run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bgtasks_conformance.mutation.run import Suite

# What each framework's tests import beyond the framework (from their pyproject's test dependency group,
# without the type checkers, linters and benchmark runners; tests whose imports are missing are reported).
TEST_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "starlette": ("pytest>=8", "coverage>=7", "trio", "blockbuster", "httpx2[zstd]", "itsdangerous", "jinja2",
                  "python-multipart", "pyyaml", "httpx", "opentelemetry-api", "opentelemetry-sdk",
                  "importlib-metadata"),
    "fastapi": ("pytest>=9", "coverage>=7", "pytest-timeout", "pytest-xdist", "anyio[trio]", "dirty-equals",
                "flask", "a2wsgi", "inline-snapshot", "pwdlib[argon2]", "pyjwt", "pyyaml", "sqlmodel", "httpx",
                "httpx2", "python-multipart", "email-validator", "jinja2", "itsdangerous", "pydantic-settings",
                "pydantic-extra-types", "orjson", "ujson", "typer", "python-slugify", "opentelemetry-sdk",
                "opentelemetry-exporter-otlp-proto-http", "opentelemetry-instrumentation-fastapi", "sentry-sdk",
                "strawberry-graphql"),
}
# Arguments of the coverage run over the whole suite (benchmarks need their own runner and are not tests of
# behaviour; a test module that cannot be collected here is left out, and its tests are not used).
SUITE_ARGS: dict[str, tuple[str, ...]] = {
    "starlette": ("tests", "--continue-on-collection-errors"),
    "fastapi": ("tests", "--ignore=tests/benchmarks", "--ignore=tests/memory_benchmarks",
                "--continue-on-collection-errors"),
}
PINNED = ("starlette", "fastapi", "pydantic", "pydantic-core", "anyio")
DEFAULT_CACHE = Path.home() / ".cache" / "bgtasks-conformance" / "mutation"


def _uv() -> list[str]:
    try:
        from uv import find_uv_bin
        return [find_uv_bin()]
    except (ImportError, FileNotFoundError):
        if shutil.which("uv"):
            return ["uv"]
    raise SystemExit("bgtasks mutation: --against needs uv to build the frameworks' test environments; "
                     "install it (pip install uv, or the suite's test extra)")


def _check(command: list[str], what: str, cwd: Path | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-12:])
        raise SystemExit(f"bgtasks mutation: {what} failed (exit {result.returncode}):\n{tail}")


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def prepare(framework: str, cache: Path) -> Suite:
    """The framework's own suite for its installed release, its environment built once under ``cache``."""
    if framework not in TEST_DEPENDENCIES:
        raise SystemExit(f"bgtasks mutation: --against: unknown framework {framework!r}; "
                         f"choose among {', '.join(TEST_DEPENDENCIES)}")
    release = _installed(framework)
    if release is None:
        raise SystemExit(f"bgtasks mutation: --against {framework}: {framework} is not installed here")
    pins = [f"{name}=={_installed(name)}" for name in PINNED if _installed(name)]
    home = cache / f"{framework}-{release}-{hashlib.sha256(' '.join(pins).encode()).hexdigest()[:10]}"
    venv, source = home / "venv", home / "source"
    python = venv / "bin" / "python"
    if not (home / "ready").is_file():
        print(f"building {framework} {release}'s test environment in {home} (once) ...", flush=True)
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        uv = _uv()
        _check([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], "creating the virtual environment")
        _check([*uv, "pip", "install", "--quiet", "--python", str(python), "pip"], "installing pip")
        downloads = home / "sdist"
        _check([str(python), "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                f"{framework}=={release}", "-d", str(downloads)], f"downloading {framework} {release}'s sdist")
        archive = next(downloads.glob("*.tar.gz"))
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later: no path outside the folder
                tar.extractall(home / "unpacked", filter="data")
            else:
                tar.extractall(home / "unpacked")  # an sdist of the index, as pip itself unpacks it
        root = next((home / "unpacked").iterdir())
        if not (root / "tests").is_dir():
            raise SystemExit(f"bgtasks mutation: {framework} {release}'s sdist has no tests/ folder; "
                             "its suite cannot be measured from the package index")
        root.rename(source)
        # the tests must import the installed (or mutated) framework, not the sdist's copy next to them (pytest
        # puts the rootdir first on sys.path)
        shutil.rmtree(source / framework)
        _check([*uv, "pip", "install", "--quiet", "--python", str(python), *pins,
                *TEST_DEPENDENCIES[framework]], f"installing {framework}'s test dependencies")
        (home / "ready").write_text(release + "\n", encoding="utf-8")
    return Suite(name=framework, python=str(python), args=SUITE_ARGS[framework], cwd=source,
                 env=(("PYTHONHASHSEED", "0"),))


def cache_dir(option: str | None) -> Path:
    """The cache folder: the option, else ``$BGTASKS_MUTATION_CACHE``, else under the user's cache."""
    chosen = option or os.environ.get("BGTASKS_MUTATION_CACHE")
    return Path(chosen) if chosen else DEFAULT_CACHE

"""Headless Chromium for the tests that look at a page: it renders, scripts run, the test reads the DOM."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run")


def needs_chromium(what: str) -> pytest.MarkDecorator:
    """Skip, with the command that installs it, where there is no Chromium."""
    return pytest.mark.skipif(CHROMIUM is None, reason=f"needs chromium (apt-get install chromium) to render {what}")


def render(page: Path, tmp_path: Path, *extra: str, url_suffix: str = "") -> str:
    """Chromium's output for ``page``: with ``--dump-dom``, the DOM after the page's scripts ran."""
    assert CHROMIUM is not None
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1200,800", *extra,
               page.as_uri() + url_suffix]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-1500:]}"
    return done.stdout


def dom(page: Path, tmp_path: Path, url_suffix: str = "") -> str:
    """The rendered DOM of ``page`` once its scripts ran."""
    return render(page, tmp_path, "--dump-dom", "--virtual-time-budget=2000", url_suffix=url_suffix)

"""The documentation site: mkdocs builds it strictly, headless Chromium opens its pages; the README's contents."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import dom, needs_chromium

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
READERS = {"implementer.html": "Implementer", "ci.html": "CI", "maintainer.html": "Maintainer",
           "contributor.html": "Contributor"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as ``tox -e docs`` builds it, into a temporary directory."""
    pytest.importorskip("mkdocs", reason="the docs extra builds the site: pip install -e '.[docs]'")
    pytest.importorskip("pymdownx", reason="the docs extra builds the site: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
                          cwd=out, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"mkdocs build --strict failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return out


def nav_links(rendered: str) -> list[str]:
    """The pages the site's navigation bar links to (relative, as mkdocs writes them)."""
    nav = re.search(r'<div id="navbar-collapse".*?</ul>\s*<ul class="nav navbar-nav ms-md-auto">', rendered, re.S)
    assert nav is not None, f"no navigation bar in the rendered page:\n{rendered[:2000]}"
    return re.findall(r'<a href="([^"#]+\.html)"[^>]*class="[^"]*(?:nav-link|dropdown-item)', nav.group(0))


@needs_chromium("the documentation site")
def test_the_home_page_links_every_reader_page_and_they_render(site: Path, tmp_path: Path) -> None:
    home = dom(site / "index.html", tmp_path)
    assert "<title>bgtasks-conformance</title>" in home
    links = nav_links(home)
    assert set(READERS) <= set(links), f"the navigation lacks a reader page: {links}"
    for link in links:
        page = site / link
        assert page.is_file(), f"the navigation links {link}, which the build did not write (a 404)"
        rendered = dom(page, tmp_path)
        assert "404" not in re.search(r"<title>(.*?)</title>", rendered).group(1), f"{link} renders the 404 page"
        assert re.search(r"<h1[^>]*>", rendered), f"{link} has no heading"
    for name, title in READERS.items():
        rendered = dom(site / name, tmp_path)
        heading = re.search(r"<h1[^>]*>(.*?)<", rendered)
        assert heading is not None and heading.group(1).startswith(f"{title}:"), (name, heading)
        assert f"<title>{title} - bgtasks-conformance</title>" in rendered


@needs_chromium("the documentation site")
def test_the_pages_carry_the_readme_sections_they_take(site: Path, tmp_path: Path) -> None:
    implementer = dom(site / "implementer.html", tmp_path)
    for heading in ("Running it against your implementation", "Outcomes and exit codes", "Options"):
        assert re.search(rf"<h2 id=\"[^\"]+\">{heading}", implementer), heading
    assert "--8&lt;--" not in implementer and "--8<--" not in implementer, "a snippet marker was left in the page"
    assert 'href="CONTRACT.html"' in implementer  # the README's link to CONTRACT.md resolves inside the site
    ci = dom(site / "ci.html", tmp_path)
    assert "report.schema.json" in ci and 'href="implementer.html#outcomes-and-exit-codes"' in ci
    maintainer = dom(site / "maintainer.html", tmp_path)
    assert all(f'<h2 id="{anchor}">' in maintainer for anchor in ("version-matrix", "release-bisect"))


def test_the_readme_contents_link_its_sections_and_the_reader_pages() -> None:
    text = README.read_text()
    lines = text.splitlines()
    contents = lines.index("## Contents")
    assert contents < 40, "the contents follow the two opening commands"
    anchors = {_anchor(line) for line in lines if line.startswith("## ") and line != "## Contents"}
    listed = re.findall(r"^- \[.*\]\(#([^)]+)\)$", text, re.M)
    assert set(listed) == anchors, f"contents and sections differ: {set(listed) ^ anchors}"
    for page in re.findall(r"\]\((docs/[a-z]+\.md)\)", text):
        assert (ROOT / page).is_file(), page


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading[3:].strip().lower()).replace(" ", "-")

"""Every relative link and every file path named in README.md and docs/*.md exists, so the pages
never send a reader to a file that moved or never was."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
PATH = re.compile(r"(?<![\w/.~<-])((?:[\w-]+/)+[\w.-]*\w\.(?:py|yaml|md|png|ipynb|sh|toml|txt))\b")
# paths that runs create (logs, data, outputs, wheels) or that stand for the reader's own files
MADE_BY_RUNS = (
    "logs/",
    "data/",
    "wheelhouse/",
    "outputs/",
    "samples/",
    "path/",
    "folder/",
    "DIR/",
    "RUN/",
    "COPY/",
)
SEARCHED = (ROOT, ROOT / "src", ROOT / "src" / "ugatit", ROOT / "conf", ROOT / "tests")


def _exists(name: str, page: Path) -> bool:
    return any((base / name).exists() for base in (page.parent, *SEARCHED))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_point_to_files_that_exist(page):
    text = page.read_text()
    missing = [
        target
        for target in LINK.findall(text)
        if not target.startswith(("http://", "https://", "#", "mailto:"))
        and not (page.parent / target.split("#")[0]).exists()
    ]
    assert missing == [], f"{page.name} links to missing files: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_named_paths_exist(page):
    text = page.read_text()
    missing = sorted(
        {
            name
            for name in PATH.findall(text)
            if not name.startswith(MADE_BY_RUNS) and not _exists(name, page)
        }
    )
    assert missing == [], f"{page.name} names files that do not exist: {missing}"

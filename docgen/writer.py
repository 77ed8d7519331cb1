"""Finds the generated blocks in README.md and docs/*.md and rewrites them, or names the ones that
differ from what their renderers write now."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path

from docgen.blocks import COMMITTED
from docgen.blocks.benchmark import results_section
from docgen.results import latest_results
from docgen.targets import summary_rows

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
LEVERS_BEGIN, LEVERS_END = "<!-- levers:begin -->", "<!-- levers:end -->"
BLOCK = re.compile(r"<!-- ([a-z][a-z0-9-]*):begin -->\n(.*?)<!-- \1:end -->", re.DOTALL)


def doc_files(root: Path) -> list[Path]:
    """The files that hold generated blocks: README.md and docs/*.md."""
    readme = root / "README.md"
    return ([readme] if readme.is_file() else []) + sorted((root / "docs").glob("*.md"))


def renderers(
    root: Path, results: dict | None, targets: list[list[str]] | None
) -> dict[str, Callable[[], str]]:
    """Each block's renderer, called at most once however many files hold the block."""
    blocks = {
        name: functools.cache(functools.partial(render, root)) for name, render in COMMITTED.items()
    }
    if results is not None:
        if targets is None:
            targets = summary_rows(results, root)
        blocks["results"] = functools.cache(lambda: results_section(root, results, targets))
    return blocks


def rewrite(text: str, blocks: dict[str, Callable[[], str]]) -> tuple[str, set[str]]:
    """`text` with every block that `blocks` renders rewritten; and the names of those found."""
    found = set()

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in blocks:
            return match.group(0)
        found.add(name)
        return f"<!-- {name}:begin -->\n{blocks[name]().rstrip()}\n<!-- {name}:end -->"

    return BLOCK.sub(replace, text), found


def update_docs(
    root: Path, results: dict | None, targets: list[list[str]] | None = None
) -> list[Path]:
    """Rewrite the generated blocks of README.md and docs/*.md: the `results` block from
    `results` (bench/results/latest.json's; None leaves it as it is), every other from the
    committed files. Returns the files that changed."""
    blocks = renderers(root, results, targets)
    changed, seen = [], set()
    for path in doc_files(root):
        text = path.read_text()
        new, found = rewrite(text, blocks)
        seen |= found
        if new != text:
            path.write_text(new)
            changed.append(path)
    for required in ("levers", *(["results"] if results is not None else [])):
        if required not in seen:
            raise SystemExit(f"no <!-- {required}:begin --> ... <!-- {required}:end --> block in "
                             f"README.md or docs/*.md to update")
    return changed


def stale_blocks(root: Path) -> list[tuple[Path, str, str, str]]:
    """(file, block, as written, as generated) for every block that differs from what its
    generator writes now; `results` only where bench/results/latest.json is present."""
    blocks = renderers(root, latest_results(root), None)
    stale = []
    for path in doc_files(root):
        for match in BLOCK.finditer(path.read_text()):
            name, written = match.group(1), match.group(2).rstrip()
            if name in blocks and written != blocks[name]().rstrip():
                stale.append((path, name, written, blocks[name]().rstrip()))
    return stale

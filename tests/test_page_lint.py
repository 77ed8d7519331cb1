"""`make lint` lints the pages' HTML, CSS and JavaScript files (package data under pipeline/) with
the linters pinned in tools/page-lint/."""

from __future__ import annotations

import json
import subprocess

from harness.synthetic import ROOT

LINTERS = {".html": "htmlhint", ".css": "stylelint", ".js": "eslint"}


def test_make_lint_runs_a_linter_over_every_page_file():
    dry = subprocess.run(["make", "-n", "-o", ".venv/.installed-stamp", "lint"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "cd tools/page-lint && npm install --silent --no-audit --no-fund" in dry
    lines = dry.splitlines()
    for suffix, linter in LINTERS.items():
        command = next(line for line in lines if f"node_modules/.bin/{linter} " in line)
        files = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pipeline").rglob(
            f"*{suffix}"))
        assert files, suffix
        # every such file lies under what the command names: the pipeline folder or its glob
        assert command.endswith((" pipeline", f" 'pipeline/**/*{suffix}'")), command
    pinned = json.loads((ROOT / "tools/page-lint/package-lock.json").read_text())["packages"][""]
    assert set(LINTERS.values()) <= set(pinned["dependencies"])

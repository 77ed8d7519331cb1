"""The pull-request report: what a change did to params and metrics, compared with a base revision.

    lenet report --base origin/main [--out reports/pr] [--fail-on-regression]
    lenet report --base origin/main --reduced presets/pr-reduced.yaml
    lenet report --base origin/main --pull           # with a DVC remote that holds the models
    lenet report --base origin/main --post-comment   # with a token that may comment
    python -m pipeline.report.comment ARTIFACT       # the comment workflow (pr-comment.yml)

--reduced reruns the pipeline with the same reduced settings on both sides (each in a scratch
checkout), for CI runners that have no DVC remote with the real models: the comparison is then
like for like, and only what the change itself did shows up.

Writes report.md, the comment: complete as text (GitHub-flavoured tables, no images), with a link
to the workflow run whose artifact holds report.html, the same report with its plots inline. In
GitHub Actions the same markdown goes to the run's summary page, and in a pull-request run the
pull request's number beside report.md: the comment workflow, which alone may write to the pull
request, posts report.md from the artifact (.github/workflows/pr-comment.yml).
A verdict is "improved" or "regressed" only when test accuracy moved beyond the tolerance and the
paired test on the same test images (exact McNemar) says it is not noise; stale results (DVC says
the workspace's dvc.lock does not match its code or params) are reported instead of compared.

One job per submodule: builder (the tables, the page, publishing them), diff (DVC's view of two
revisions), significance (the paired test), page (the HTML), github (GitHub's REST API, the run's
summary), comment (the comment workflow's script), rerun (the reduced reruns).

This file imports nothing at load, and github and comment only the standard library (and
pipeline.core.errors): the comment workflow runs `python -m pipeline.report.comment` on a bare
Python, and importing a submodule imports this package first. The builder (numpy, matplotlib,
DVC) is imported by run() and refuse_stale() when called.

Imports pipeline.core and pipeline.pages. Imported by pipeline.cli only; no stage imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic: not at run time
    from pipeline.core.config import Params


def refuse_stale(base: str, out: Path, post: bool) -> None:
    """Before comparing anything: if the workspace's results are stale, publish that instead and
    raise StaleResults (the check fails)."""
    from pipeline.report import builder

    builder.refuse_stale(base, out, post)


def run(params: Params, base: str, change: str | None, out: Path, post: bool) -> dict[str, str]:
    """Build and publish the report of `change` (None: the workspace) against `base`; returns
    each dataset's verdict."""
    from pipeline.report import builder

    return builder.run(params, base, change, out, post)

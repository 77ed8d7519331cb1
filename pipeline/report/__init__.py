"""The pull-request report: what a change did to params and metrics, compared with a base revision.

    lenet report --base origin/main [--out reports/pr] [--fail-on-regression]
    lenet report --base origin/main --post-comment   # in GitHub Actions
    lenet report --base origin/main --reduced presets/pr-reduced.yaml

--reduced reruns the pipeline with the same reduced settings on both sides (each in a scratch
checkout), for CI runners that have no DVC remote with the real models: the comparison is then
like for like, and only what the change itself did shows up.

Writes report.md (tables, verdicts, images beside it) and report.html (standalone, images inline).
`--post-comment` creates or updates one comment on the pull request through GitHub's REST API.

One job per submodule: diff (DVC's view of two revisions), figures, page (the HTML), github (the
comment), rerun (the reduced reruns). This module puts them together.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Params
from pipeline.files import write_text
from pipeline.report import github
from pipeline.report.diff import metric_changes, param_changes, verdict
from pipeline.report.figures import confusion_figure, curves_figure, png
from pipeline.report.page import to_html


def _fmt(value, pattern="{:.4f}") -> str:
    return "—" if value is None else pattern.format(value)


def build(params: Params, base: str, change: str | None, out: Path) -> tuple[str, str, dict[str, str]]:
    """(markdown, html, {dataset: verdict}) of `change` (None: the workspace) against `base`;
    images are written to out/images/."""
    datasets = list(params.datasets)
    tolerance = params.report.regression_tolerance
    changes = metric_changes(base, change, datasets)
    verdicts = {ds: verdict(changes[ds]["test.accuracy"], tolerance) for ds in datasets}
    title = "this change" if change is None else f"`{change}`"
    md = [github.MARKER, f"## LeNet-5 pipeline: {title} vs `{base}`", ""]
    for ds in datasets:
        acc = changes[ds]["test.accuracy"]
        md.append(f"- **{ds}: {verdicts[ds]}** (test accuracy {_fmt(acc.old)} → {_fmt(acc.new)}; "
                  f"tolerance ±{tolerance})")
    md += ["", "### Metrics", "", "| dataset | metric | base | this change | change | relative |",
           "|---|---|---|---|---|---|"]
    for ds in datasets:
        for key, moved in changes[ds].items():
            md.append(f"| {ds} | {key} | {_fmt(moved.old)} | {_fmt(moved.new)} | "
                      f"{_fmt(moved.delta, '{:+.4f}')} | {_fmt(moved.relative, '{:+.2%}')} |")
    params_changed = param_changes(base, change)
    md += ["", "### Params", ""]
    if params_changed:
        md += ["| param | base | this change |", "|---|---|---|"]
        md += [f"| `{key}` | `{old}` | `{new}` |" for key, old, new in params_changed]
    else:
        md.append("No parameter changed.")
    images: dict[str, bytes] = {}
    for ds in datasets:
        classes = params.datasets[ds].classes
        for name, fig in (
            (f"{ds}-confusion-base.png", confusion_figure(ds, classes, base, f"{ds}: base")),
            (f"{ds}-confusion-new.png", confusion_figure(ds, classes, change, f"{ds}: this change")),
            (f"{ds}-curves.png", curves_figure(ds, base, change)),
        ):
            if fig is not None:
                images[name] = png(fig)
    md += ["", "### Confusion matrices and training curves", ""]
    md += [f"![{name}](images/{name})" for name in images]
    markdown = "\n".join(md) + "\n"
    (out / "images").mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        (out / "images" / name).write_bytes(data)
    return markdown, to_html(markdown, images), verdicts


def run(params: Params, base: str, change: str | None, out: Path, post: bool) -> dict[str, str]:
    markdown, page, verdicts = build(params, base, change, out)
    write_text(out / "report.md", markdown)
    write_text(out / "report.html", page)
    if post:
        repo, number, token, api = github.pull_request_from_env()
        github.post_comment(markdown, repo, number, token, api)
    return verdicts

"""The report's tables (markdown: the comment), its page (HTML, plots inline) and publishing
both: report.md and report.html in the output folder, the run's summary page, the pull request's
number for the comment workflow, and with --post-comment the comment itself.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core.config import Params
from pipeline.core.errors import PipelineError
from pipeline.core.files import write_text
from pipeline.pages.figures import confusion_figure, curves_figure, png
from pipeline.report import diff, github
from pipeline.report.page import to_html
from pipeline.report.significance import Paired, mcnemar, verdict

log = logging.getLogger(__name__)
MOVERS = 3  # per-class rows per dataset
CELLS = 5  # confusion-matrix cells per dataset


class StaleResults(PipelineError):
    """The workspace's dvc.lock and metrics do not match its code or params."""


@dataclass(frozen=True)
class Report:
    markdown: str  # the comment
    html: str  # the full page, plots inline
    verdicts: dict[str, str]


def title(base: str, change: str | None) -> str:
    return f"## LeNet-5 pipeline: {'this change' if change is None else f'`{change}`'} vs `{base}`"


def _fmt(value, pattern="{:.4f}") -> str:
    return "—" if value is None else pattern.format(value)


def run_link() -> str:
    """Where the full report is: the workflow run (its artifact) in GitHub Actions, else the
    file."""
    env = os.environ
    if all(env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")):
        url = (f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}"
               f"/actions/runs/{env['GITHUB_RUN_ID']}")
        return (
            f"Full report with plots: the `metrics-report` artifact of [this workflow run]({url})."
        )
    return "Full report with plots: `report.html` beside this file."


def paired_test(ds: str, base: str, change: str | None) -> Paired | None:
    sides = diff.predictions_at(ds, base), diff.predictions_at(ds, change)
    if None in sides or len(sides[0][0]) != len(sides[1][0]) or np.any(sides[0][0] != sides[1][0]):
        return None  # not the same test images on both sides
    (actual, before), (_, after) = sides
    return mcnemar(before == actual, after == actual)


def per_class_rows(ds: str, base: str, change: str | None) -> list[str]:
    old, new = diff.per_class_at(ds, base), diff.per_class_at(ds, change)
    if not old or not new:
        return []
    # In the dataset's class order where F1 moved alike: the same results give the same comment.
    shared = [c for c in new if c in old]
    moved = sorted(shared, key=lambda c: -abs(new[c]["f1"] - old[c]["f1"]))[:MOVERS]
    return [f"| {ds} | {c} | " + " | ".join(f"{old[c][k]:.4f} → {new[c][k]:.4f}"
                                             for k in ("precision", "recall", "f1"))
            + f" | {new[c]['f1'] - old[c]['f1']:+.4f} |" for c in moved]


def confusion_rows(ds: str, classes: list[str], base: str, change: str | None) -> list[str]:
    matrices = diff.confusion_at(ds, classes, base), diff.confusion_at(ds, classes, change)
    if matrices[0] is None or matrices[1] is None:
        return []
    delta = matrices[1] - matrices[0]
    cells = sorted(((i, j) for i, j in np.ndindex(delta.shape) if delta[i, j] and i != j),
                   key=lambda cell: (-abs(delta[cell]), cell))[:CELLS]
    return [f"| {ds} | {classes[i]} | {classes[j]} | {matrices[0][i, j]} | {matrices[1][i, j]} | "
            f"{delta[i, j]:+d} |" for i, j in cells]


def curve_rows(ds: str, base: str, change: str | None) -> list[str]:
    rows = []
    for label, rev in (("base", base), ("this change", change)):
        train, val = (
            diff.curve_at(ds, rev, "train", "accuracy"),
            diff.curve_at(ds, rev, "eval", "accuracy"),
        )
        val_loss = diff.curve_at(ds, rev, "eval", "loss")
        if not train or not val:
            continue
        best = int(np.argmax(val))
        rows.append(
            f"| {ds} | {label} | {len(val)} | {train[-1]:.4f} | {val[-1]:.4f} | "
            f"{val[best]:.4f} (epoch {best + 1}) | {_fmt(val_loss[-1] if val_loss else None)} |"
        )
    return rows


def stale_markdown(base: str, stale: list[str]) -> str:
    return "\n".join(
        [
            github.MARKER,
            title(base, None),
            "",
            (
                "**Stale results: not compared.** DVC says this change's `dvc.lock` does not "
                "match its code or params, so its metrics are not the ones its params produce:"
            ),
            "",
            *[f"- `{line}`" for line in stale],
            "",
            "Run `make repro` (or `dvc repro`) and commit `dvc.lock` and `metrics/`.",
            "",
        ]
    )


def build(params: Params, base: str, change: str | None, out: Path) -> Report:
    """The report of `change` (None: the workspace) against `base`; images go to out/images/."""
    datasets = list(params.datasets)
    settings = params.report
    changes = diff.metric_changes(base, change, datasets)
    paired = {ds: paired_test(ds, base, change) for ds in datasets}
    verdicts = {ds: verdict(changes[ds]["test.accuracy"], settings.regression_tolerance, paired[ds],
                            settings.significance) for ds in datasets}
    md = [github.MARKER, title(base, change), ""]
    for ds in datasets:
        acc = changes[ds]["test.accuracy"]
        evidence = (paired[ds].line() if paired[ds] else
                    "no per-image predictions on both sides: tolerance only")
        md.append(
            f"- **{ds}: {verdicts[ds]}**: test accuracy {_fmt(acc.old)} → {_fmt(acc.new)}; "
            f"{evidence} (level {settings.significance}, "
            f"tolerance ±{settings.regression_tolerance})"
        )
    md += ["", "### Metrics", "", "| dataset | metric | base | this change | change | relative |",
           "|---|---|---|---|---|---|"]
    for ds in datasets:
        for key, moved in changes[ds].items():
            md.append(f"| {ds} | {key} | {_fmt(moved.old)} | {_fmt(moved.new)} | "
                      f"{_fmt(moved.delta, '{:+.4f}')} | {_fmt(moved.relative, '{:+.2%}')} |")
    sections = (
        (
            "Classes whose F1 moved most",
            "| dataset | class | precision | recall | F1 | F1 change |",
            [row for ds in datasets for row in per_class_rows(ds, base, change)],
        ),
        (
            "Confusion-matrix cells that changed most (test images)",
            "| dataset | actual | predicted | base | this change | change |",
            [
                row
                for ds in datasets
                for row in confusion_rows(ds, params.datasets[ds].classes, base, change)
            ],
        ),
        (
            "Training curves",
            (
                "| dataset | side | epochs | final train acc | final val acc | "
                "best val acc | final val loss |"
            ),
            [row for ds in datasets for row in curve_rows(ds, base, change)],
        ),
    )
    for heading, header, rows in sections:
        md += ["", f"### {heading}", ""]
        md += (
            [header, "|" + "---|" * header.count(" | ") + "---|", *rows]
            if rows
            else ["Nothing to compare."]
        )
    params_changed = diff.param_changes(base, change)
    md += ["", "### Params", ""]
    if params_changed:
        md += ["| param | base | this change |", "|---|---|---|"]
        md += [f"| `{key}` | `{old}` | `{new}` |" for key, old, new in params_changed]
    else:
        md.append("No parameter changed.")
    md += ["", run_link()]
    markdown = "\n".join(md) + "\n"
    images = figures(params, base, change)
    out.joinpath("images").mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        (out / "images" / name).write_bytes(data)
    return Report(markdown, to_html(markdown, images), verdicts)


def figures(params: Params, base: str, change: str | None) -> dict[str, bytes]:
    """PNG files for the page (never the comment: a comment cannot show the runner's files)."""
    images: dict[str, bytes] = {}
    for ds, dataset in params.datasets.items():
        for name, fig in (
            (
                f"{ds}-confusion-base.png",
                confusion_figure(
                    diff.confusion_at(ds, dataset.classes, base), dataset.classes, f"{ds}: base"
                ),
            ),
            (
                f"{ds}-confusion-new.png",
                confusion_figure(
                    diff.confusion_at(ds, dataset.classes, change),
                    dataset.classes,
                    f"{ds}: this change",
                ),
            ),
            (
                f"{ds}-curves.png",
                curves_figure(
                    ds,
                    [
                        ("base", "--", diff.curves_at(ds, base)),
                        ("this change", "-", diff.curves_at(ds, change)),
                    ],
                ),
            ),
        ):
            if fig is not None:
                images[name] = png(fig)
    return images


def publish(markdown: str, html: str, out: Path, post: bool) -> None:
    """Write the report where the reviewer reads it: report.md and report.html in `out` (the
    run's artifact), the run's summary page, and in a pull-request run the pull request's number
    beside them (for the comment workflow). With `post`, also the comment: a 403 (a fork pull
    request's read-only token) is a warning, any other API failure an error, the report being
    written either way."""
    write_text(out / github.COMMENT_FILE, markdown)
    write_text(out / "report.html", html)
    github.write_step_summary(markdown)
    number = github.event_pull_request_number()
    if number is not None:
        write_text(out / github.NUMBER_FILE, f"{number}\n")
    if not post:
        return
    repo, number, token, api = github.pull_request_from_env()
    try:
        github.post_comment(markdown, repo, number, token, api)
    except github.ApiError as error:
        if not error.forbidden:
            raise
        log.warning(
            "comment not posted: %s; on a fork pull request the token is read-only and "
            "the comment is posted by the comment workflow (.github/workflows/pr-comment.yml)",
            error,
        )


def refuse_stale(base: str, out: Path, post: bool) -> None:
    """Before comparing anything: if the workspace's results are stale, publish that instead and
    raise StaleResults (the check fails)."""
    stale = diff.stale_stages()
    if stale:
        markdown = stale_markdown(base, stale)
        publish(markdown, to_html(markdown, {}), out, post)
        raise StaleResults(f"stale results, not compared (see {out / github.COMMENT_FILE}): "
                           + "; ".join(stale[:5]))


def run(params: Params, base: str, change: str | None, out: Path, post: bool) -> dict[str, str]:
    """Build and publish the report of `change` (None: the workspace) against `base`."""
    report = build(params, base, change, out)
    publish(report.markdown, report.html, out, post)
    return report.verdicts

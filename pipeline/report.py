"""The pull-request report: what a change did to params and metrics, compared with a base revision.

    python -m pipeline report --base origin/main [--out reports/pr] [--fail-on-regression]
    python -m pipeline report --base origin/main --post-comment   # in GitHub Actions
    python -m pipeline report --base origin/main --reduced presets/pr-reduced.yaml

--reduced reruns the pipeline with the same reduced settings on both sides (the base in a git
worktree), for CI runners that have no DVC remote with the real models: the comparison is then
like for like, and only what the change itself did shows up.

Writes report.md (tables, verdicts, images beside it) and report.html (standalone, images inline).
`--post-comment` creates or updates one comment on the pull request through GitHub's REST API.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from pipeline import workspace
from pipeline.config import Params
from pipeline.errors import PipelineError
from pipeline.files import write_text

MARKER = "<!-- lenet-pipeline-report -->"
HEADLINE = ("test.accuracy", "test.loss")


class ReportError(PipelineError):
    """The report could not be built or posted."""


@dataclass(frozen=True)
class Change:
    old: float | None
    new: float | None

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def relative(self) -> float | None:
        return None if not self.old or self.delta is None else self.delta / abs(self.old)


def verdict(accuracy: Change, tolerance: float) -> str:
    """improved / unchanged / regressed, by test accuracy against a tolerance (absolute)."""
    if accuracy.delta is None:
        return "new" if accuracy.old is None else "removed"
    if accuracy.delta > tolerance:
        return "improved"
    if accuracy.delta < -tolerance:
        return "regressed"
    return "unchanged"


def _dvc_json(*args: str) -> dict:
    return json.loads(workspace.run("dvc", *args, "--json") or "{}")


def metric_changes(base: str, datasets: list[str]) -> dict[str, dict[str, Change]]:
    """{dataset: {"test.accuracy": Change, ...}} for metrics/<dataset>.json."""
    diff = _dvc_json("metrics", "diff", base, "--all")
    changes = {}
    for ds in datasets:
        entries = diff.get(f"metrics/{ds}.json", {})
        changes[ds] = {key: Change(entries.get(key, {}).get("old"), entries.get(key, {}).get("new"))
                       for key in HEADLINE}
    return changes


def param_changes(base: str) -> list[tuple[str, object, object]]:
    diff = _dvc_json("params", "diff", base)
    return [(key, value.get("old"), value.get("new"))
            for file_changes in diff.values() for key, value in sorted(file_changes.items())]


def read_at(path: str, rev: str | None) -> str | None:
    """A file's text in the workspace (rev None) or at `rev` (git or DVC-tracked); None if absent."""
    if rev is None:
        return Path(path).read_text() if Path(path).exists() else None
    import dvc.api

    try:
        return dvc.api.read(path, rev=rev)
    except Exception:  # noqa: BLE001  absent at that revision, for whatever reason DVC gives
        return None


def confusion_figure(ds: str, classes: list[str], rev: str | None, title: str):
    text = read_at(f"reports/eval/{ds}/confusion.json", rev)
    if text is None:
        return None
    index = {name: i for i, name in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    for row in json.loads(text):
        matrix[index[row["actual"]], index[row["predicted"]]] += 1
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(np.log1p(matrix), cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=6)
    ax.set_yticks(range(len(classes)), classes, fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def curves_figure(ds: str, base: str):
    fig, ax = plt.subplots(figsize=(5, 3.2))
    drawn = False
    for rev, label, style in ((base, "base", "--"), (None, "this change", "-")):
        for split in ("train", "eval"):
            text = read_at(f"reports/train/{ds}/plots/metrics/{split}/accuracy.tsv", rev)
            if text is None:
                continue
            rows = [line.split("\t") for line in text.strip().splitlines()[1:]]
            ax.plot([int(r[0]) + 1 for r in rows], [float(r[1]) for r in rows], style,
                    label=f"{label}: {'validation' if split == 'eval' else 'train'}")
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{ds}: training curves", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _fmt(value, pattern="{:.4f}") -> str:
    return "—" if value is None else pattern.format(value)


def build(params: Params, base: str, out: Path) -> tuple[str, str, dict[str, str]]:
    """(markdown, html, {dataset: verdict}); images are written to out/images/."""
    datasets = list(params.datasets)
    tolerance = params.report.regression_tolerance
    changes = metric_changes(base, datasets)
    verdicts = {ds: verdict(changes[ds]["test.accuracy"], tolerance) for ds in datasets}
    md = [MARKER, f"## LeNet-5 pipeline: this change vs `{base}`", ""]
    for ds in datasets:
        acc = changes[ds]["test.accuracy"]
        md.append(f"- **{ds}: {verdicts[ds]}** (test accuracy {_fmt(acc.old)} → {_fmt(acc.new)}; "
                  f"tolerance ±{tolerance})")
    md += ["", "### Metrics", "", "| dataset | metric | base | this change | change | relative |",
           "|---|---|---|---|---|---|"]
    for ds in datasets:
        for key, change in changes[ds].items():
            md.append(f"| {ds} | {key} | {_fmt(change.old)} | {_fmt(change.new)} | "
                      f"{_fmt(change.delta, '{:+.4f}')} | {_fmt(change.relative, '{:+.2%}')} |")
    params_changed = param_changes(base)
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
            (f"{ds}-confusion-new.png", confusion_figure(ds, classes, None, f"{ds}: this change")),
            (f"{ds}-curves.png", curves_figure(ds, base)),
        ):
            if fig is not None:
                images[name] = _png(fig)
    md += ["", "### Confusion matrices and training curves", ""]
    md += [f"![{name}](images/{name})" for name in images]
    markdown = "\n".join(md) + "\n"
    (out / "images").mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        (out / "images" / name).write_bytes(data)
    return markdown, to_html(markdown, images), verdicts


def to_html(markdown: str, images: dict[str, bytes]) -> str:
    """A standalone page: the report's tables and lists, images inline as data URIs."""
    body, table = [], []

    def flush_table():
        if table:
            rows = [r for r in table if not re.fullmatch(r"\|(-+\|)+", r.replace("---", "-"))]
            cells = [[html.escape(c.strip().strip("`")) for c in r.strip("|").split("|")] for r in rows]
            head = "".join(f"<th>{c}</th>" for c in cells[0])
            rest = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in cells[1:])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rest}</tbody></table>")
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("### "):
            body.append(f"<h3>{html.escape(line[4:])}</h3>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("- "):
            text = html.escape(line[2:])
            body.append("<p class='verdict'>" + re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text) + "</p>")
        elif match := re.fullmatch(r"!\[(.+)\]\(images/(.+)\)", line):
            data = base64.b64encode(images[match.group(2)]).decode()
            body.append(f"<img alt='{html.escape(match.group(1))}' src='data:image/png;base64,{data}'>")
        elif line and not line.startswith("<!--"):
            body.append(f"<p>{html.escape(line)}</p>")
    flush_table()
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.2em .6em}img{margin:.5em;vertical-align:top}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>LeNet-5 pipeline report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def post_comment(markdown: str, repo: str, number: int, token: str,
                 api: str = "https://api.github.com") -> str:
    """Create the report comment on the pull request, or update the one posted before."""
    def call(method: str, path: str, payload: dict | None = None):
        request = urllib.request.Request(
            f"{api}{path}", method=method,
            data=None if payload is None else json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    comments = call("GET", f"/repos/{repo}/issues/{number}/comments?per_page=100")
    mine = [c for c in comments if MARKER in (c.get("body") or "")]
    if mine:
        call("PATCH", f"/repos/{repo}/issues/comments/{mine[0]['id']}", {"body": markdown})
        return "updated"
    call("POST", f"/repos/{repo}/issues/{number}/comments", {"body": markdown})
    return "created"


def pull_request_from_env() -> tuple[str, int, str, str]:
    """(repo, PR number, token, API URL) from GitHub Actions' environment."""
    try:
        repo, token = os.environ["GITHUB_REPOSITORY"], os.environ["GITHUB_TOKEN"]
        event = json.loads(Path(os.environ["GITHUB_EVENT_PATH"]).read_text())
        number = int(event["pull_request"]["number"])
    except (KeyError, OSError, ValueError) as error:
        raise ReportError(f"--post-comment needs a pull_request event in GitHub Actions ({error})") from None
    return repo, number, token, os.environ.get("GITHUB_API_URL", "https://api.github.com")


REDUCED_BASE_REF = "refs/lenet/reduced-base"


def pull() -> None:
    """The workspace's outputs from the DVC remote (the base's are read from it on demand)."""
    workspace.run("dvc", "pull")


def rerun_reduced(base: str, preset: Path) -> str:
    """Run the pipeline with `preset` applied at `base` (in a worktree sharing this DVC cache) and
    here; returns a ref holding the base's results, to compare with."""
    import sys

    preset = preset.resolve()
    with workspace.scratch_checkout(base) as worktree:
        for where in (worktree, Path.cwd()):
            workspace.run(sys.executable, "-m", "pipeline", "apply", str(preset), cwd=where)
            workspace.run("dvc", "repro", cwd=where)
        workspace.run("git", "add", "-A", cwd=worktree)
        workspace.run("git", "-c", "user.name=lenet report", "-c", "user.email=report@lenet.invalid",
             "commit", "-q", "--allow-empty", "-m", f"{base} with {preset.name}", cwd=worktree)
        workspace.run("git", "update-ref", REDUCED_BASE_REF, "HEAD", cwd=worktree)
    return REDUCED_BASE_REF


def run(params: Params, base: str, out: Path, post: bool) -> dict[str, str]:
    markdown, page, verdicts = build(params, base, out)
    write_text(out / "report.md", markdown)
    write_text(out / "report.html", page)
    if post:
        repo, number, token, api = pull_request_from_env()
        post_comment(markdown, repo, number, token, api)
    return verdicts

"""`lenet exp --html [PATH]`: the experiments as one offline page (reports/experiments.html).

Read from `dvc exp show --json` (DVC's machine-readable answer, as `lenet exp`'s table). Per
dataset, the experiments are grouped by the params that vary between them, the seed aside: a
group is one setting, its experiments that setting's seeds. The picture is an inline SVG strip
plot per dataset: one row per group, each seed's test accuracy a point, the group's mean a bar,
the baseline commit a dashed line. Then a table of the groups (n, mean, spread) and one of every
experiment. No script, no font or style from elsewhere: the page opens offline, anywhere.

Not a DVC stage on purpose: a stage must not depend on git's experiment refs.
"""

from __future__ import annotations

import html
import json
import logging
import math
import re
import statistics
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pipeline.core import workspace
from pipeline.core.config import flatten
from pipeline.core.files import write_text

log = logging.getLogger("pipeline")

DEFAULT_PATH = Path("reports") / "experiments.html"
SEED = re.compile(r"(^|\.)seed$")


@dataclass(frozen=True)
class Run:
    """One row of `dvc exp show --json`: a baseline commit or one of its experiments."""

    name: str
    commit: str  # the baseline commit's short rev (its own, for a baseline)
    params: dict
    test: dict[str, dict]  # dataset -> its test metrics (metrics/<dataset>.json's `test`)

    def accuracy(self, dataset: str) -> float | None:
        value = self.test.get(dataset, {}).get("accuracy")
        return value if isinstance(value, (int, float)) else None


@dataclass
class Group:
    """The experiments of one setting of the varying params (the seed aside)."""

    setting: tuple[tuple[str, object], ...]
    runs: list[Run] = field(default_factory=list)

    def accuracies(self, dataset: str) -> list[tuple[Run, float]]:
        return [(run, a) for run in self.runs if (a := run.accuracy(dataset)) is not None]

    def label(self) -> str:
        if not self.setting:
            return "every experiment"
        return ", ".join(f"{short(key)}={value_text(value)}" for key, value in self.setting)


def _run(name: str, commit: str, data: dict | None) -> Run:
    data = data or {}
    params = flatten(((data.get("params") or {}).get("params.yaml") or {}).get("data") or {})
    test = {Path(path).stem: ((entry or {}).get("data") or {}).get("test") or {}
            for path, entry in (data.get("metrics") or {}).items()
            if path.startswith("metrics/")}
    return Run(name, commit, params, test)


def runs(shown: list[dict]) -> tuple[list[Run], list[Run]]:
    """(baseline commits, experiments) of `dvc exp show --json`'s answer, in DVC's order; the
    workspace row is left out (it holds what the last experiment or `dvc repro` left)."""
    baselines, experiments = [], []
    for entry in shown:
        rev = entry.get("rev", "")
        if rev == "workspace":
            continue
        commit = rev[:7]
        baselines.append(_run(entry.get("name") or commit, commit, entry.get("data")))
        for group in entry.get("experiments") or []:
            for run in group.get("revs") or []:
                name = run.get("name") or (run.get("rev") or "")[:7]
                experiments.append(_run(name, commit, run.get("data")))
    return baselines, experiments


def datasets_of(experiments: list[Run]) -> list[str]:
    """Every dataset with a test accuracy, in the order DVC first lists them."""
    found: dict[str, None] = {}
    for run in experiments:
        for dataset in run.test:
            if run.accuracy(dataset) is not None:
                found.setdefault(dataset)
    return list(found)


def varying(experiments: list[Run]) -> list[str]:
    """The params whose values differ between the experiments."""
    keys = sorted({key for run in experiments for key in run.params})
    return [key for key in keys
            if len({json.dumps(run.params.get(key), sort_keys=True) for run in experiments}) > 1]


def is_seed(key: str) -> bool:
    return bool(SEED.search(key))


def grouping_keys(experiments: list[Run], dataset: str) -> list[str]:
    """What sets `dataset`'s groups apart: the varying params but the seeds and other datasets'
    own settings (`datasets.<other>.*` does not change this dataset's model)."""
    return [key for key in varying(experiments)
            if not is_seed(key)
            and not (key.startswith("datasets.") and not key.startswith(f"datasets.{dataset}."))]


def _order(value) -> tuple:
    """Numbers by value, then everything else by its JSON text (None, strings, lists)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, json.dumps(value, sort_keys=True))


def groups(experiments: list[Run], dataset: str) -> list[Group]:
    """The experiments by setting of the keys that vary (grouping_keys), in the settings' order;
    when they come from more than one baseline commit, the commit is part of the setting."""
    keys = grouping_keys(experiments, dataset)
    by_commit = len({run.commit for run in experiments}) > 1
    found: dict[tuple, Group] = {}
    for run in experiments:
        setting = tuple((key, run.params.get(key)) for key in keys)
        if by_commit:
            setting = (("commit", run.commit), *setting)
        found.setdefault(setting, Group(setting)).runs.append(run)
    return sorted(found.values(),
                  key=lambda g: tuple(_order(value) for _, value in g.setting))


def short(key: str) -> str:
    return key.removeprefix("datasets.")


def value_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def percent(value: float | None, decimals: int = 2) -> str:
    return "-" if value is None else f"{value:.{decimals}%}"


def spread(values: list[float]) -> float | None:
    """The sample standard deviation, in accuracy (not percentage points); None for one value."""
    return statistics.stdev(values) if len(values) > 1 else None


# The picture.

WIDTH, ROW, TOP, AXIS, RIGHT, RADIUS = 900, 34, 30, 40, 170, 5
CHAR = 6.6  # px per character of the 12px labels, to size the label column


def ticks(low: float, high: float, count: int = 6) -> tuple[list[float], int]:
    """Round tick values across [low, high] and how many decimals their percentages need."""
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    values = [round(first + i * step, 12) for i in range(count + 2)
              if first + i * step <= high + 1e-12]
    decimals = max(0, -math.floor(math.log10(step * 100) + 1e-9))
    return values, decimals


def _stack(xs: list[float]) -> list[float]:
    """Vertical offsets that keep points at (nearly) the same x apart: 0, -4, +4, -8, +8..."""
    offsets = []
    for i, x in enumerate(xs):
        near = sum(1 for other in xs[:i] if abs(other - x) < RADIUS)
        offsets.append((-1) ** near * 4 * ((near + 1) // 2))
    return offsets


def strip_plot(dataset: str, grouped: list[Group], baselines: list[Run]) -> str:
    """One dataset's SVG: a row per group, a point per experiment, a bar at the group's mean."""
    rows = [(group, group.accuracies(dataset)) for group in grouped]
    commits = {run.commit for group in grouped for run in group.runs}
    references = [(run, a) for run in baselines
                  if run.commit in commits and (a := run.accuracy(dataset)) is not None]
    values = [a for _, points in rows for _, a in points] + [a for _, a in references]
    if not values:
        return f"<p>No experiment has a test accuracy for {html.escape(dataset)}.</p>"
    low, high = min(values), max(values)
    pad = max((high - low) * 0.08, 0.0005)
    low, high = max(0.0, low - pad), min(1.0, high + pad)
    if high - low < 0.001:
        low, high = max(0.0, high - 0.001), max(high, 0.001)
    label_width = min(320, max(90, CHAR * max(len(group.label()) for group in grouped) + 16))
    left, right = label_width, WIDTH - RIGHT
    height = TOP + ROW * len(rows) + AXIS

    def x(value: float) -> float:
        return left + (value - low) / (high - low) * (right - left)

    parts = []
    for i, (group, points) in enumerate(rows):
        middle = TOP + ROW * i + ROW / 2
        label = html.escape(group.label())
        parts.append(f'<g class="group" data-group="{i}" data-label="{label}">')
        if i % 2 == 0:
            parts.append(f'<rect class="band" x="{left}" y="{TOP + ROW * i}" '
                         f'width="{right - left}" height="{ROW}"/>')
        parts.append(f'<text class="label" x="{left - 8}" y="{middle + 4:.1f}" '
                     f'text-anchor="end">{label}</text>')
        xs = [x(a) for _, a in points]
        for (run, accuracy), px, dy in zip(points, xs, _stack(xs), strict=True):
            seed = ", ".join(f"{k}={value_text(v)}" for k, v in run.params.items() if is_seed(k))
            name = html.escape(run.name)
            parts.append(
                f'<circle class="seed" cx="{px:.1f}" cy="{middle + dy:.1f}" r="{RADIUS}" '
                f'data-experiment="{name}" data-accuracy="{accuracy:.6f}">'
                f"<title>{name}: {html.escape(seed or 'no seed')}, test accuracy "
                f"{percent(accuracy)}</title></circle>")
        if points:
            mean = statistics.fmean(a for _, a in points)
            sd = spread([a for _, a in points])
            summary = (f"{percent(mean)}" + (f" ± {sd * 100:.2f}" if sd is not None else "")
                       + f" (n={len(points)})")
            parts.append(
                f'<line class="mean" x1="{x(mean):.1f}" x2="{x(mean):.1f}" '
                f'y1="{middle - ROW * 0.38:.1f}" y2="{middle + ROW * 0.38:.1f}" '
                f'data-mean="{mean:.6f}"><title>{label}: mean {summary}</title></line>')
            parts.append(f'<text class="summary" x="{right + 14}" y="{middle + 4:.1f}">'
                         f"{html.escape(summary)}</text>")
        else:
            parts.append(f'<text class="summary" x="{right + 14}" y="{middle + 4:.1f}">'
                         "no result</text>")
        parts.append("</g>")
    bottom = TOP + ROW * len(rows)
    for run, accuracy in references:
        rx = x(accuracy)
        parts.append(
            f'<g class="baseline"><line x1="{rx:.1f}" x2="{rx:.1f}" y1="{TOP - 6}" '
            f'y2="{bottom}"/><text x="{rx:.1f}" y="{TOP - 10}" text-anchor="middle">commit '
            f"{html.escape(run.commit)}: {percent(accuracy)}</text></g>")
    tick_values, decimals = ticks(low, high)
    parts.append(f'<g class="axis"><line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>')
    for value in tick_values:
        tx = x(value)
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{bottom}" y2="{bottom + 5}"/>'
                     f'<text x="{tx:.1f}" y="{bottom + 18}" text-anchor="middle">'
                     f"{percent(value, decimals)}</text>")
    parts.append(f'<text x="{(left + right) / 2:.1f}" y="{bottom + 34}" text-anchor="middle">'
                 f"test accuracy ({html.escape(dataset)})</text></g>")
    title = (f"{dataset}: test accuracy per experiment, grouped by the params that vary; "
             "a point per seed, a bar at each group's mean")
    return (f'<svg class="strip" data-dataset="{html.escape(dataset)}" role="img" '
            f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
            f'width="{WIDTH}" height="{height}"><title>{html.escape(title)}</title>'
            + "".join(parts) + "</svg>")


# The tables and the page.

def groups_table(dataset: str, grouped: list[Group]) -> str:
    head = ("<tr><th>group</th><th>n</th><th>mean</th><th>sd (points)</th><th>min</th>"
            "<th>max</th></tr>")
    body = []
    for group in grouped:
        values = [a for _, a in group.accuracies(dataset)]
        sd = spread(values)
        cells = (group.label(), str(len(values)),
                 percent(statistics.fmean(values)) if values else "-",
                 f"{sd * 100:.2f}" if sd is not None else "-",
                 percent(min(values)) if values else "-",
                 percent(max(values)) if values else "-")
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return (f'<table class="groups" data-dataset="{html.escape(dataset)}">'
            f'{head}{"".join(body)}</table>')


def runs_table(baselines: list[Run], experiments: list[Run], datasets: list[str]) -> str:
    keys = varying(experiments) if len(experiments) > 1 else []
    head = ("<tr><th>experiment</th><th>commit</th>"
            + "".join(f"<th>{html.escape(short(key))}</th>" for key in keys)
            + "".join(f"<th>{html.escape(ds)} accuracy</th><th>{html.escape(ds)} errors</th>"
                      for ds in datasets) + "</tr>")
    settings = [key for key in keys if not is_seed(key)] + [key for key in keys if is_seed(key)]
    commits = list(dict.fromkeys(run.commit for run in experiments))  # DVC's order
    ordered = sorted(experiments, key=lambda run: (
        commits.index(run.commit), tuple(_order(run.params.get(key)) for key in settings)))
    body = []
    for kind, run in [*(("experiment", run) for run in ordered),
                      *(("baseline", run) for run in baselines)]:
        cells = [run.name if kind == "experiment" else f"{run.name} (the commit)", run.commit,
                 *(value_text(run.params.get(key)) if key in run.params else "-"
                   for key in keys)]
        for ds in datasets:
            errors = run.test.get(ds, {}).get("errors")
            cells += [percent(run.accuracy(ds)), "-" if errors is None else str(errors)]
        body.append(f'<tr class="{kind}">'
                    + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f'<table class="runs">{head}{"".join(body)}</table>'


# The page's stylesheet, package data beside this module.
STYLE = "\n" + (resources.files("pipeline.tools") / "experiments_page.css").read_text(
    encoding="utf-8")


def render(shown: list[dict]) -> str:
    baselines, experiments = runs(shown)
    datasets = datasets_of(experiments) or datasets_of(baselines)
    sections = []
    for dataset in datasets:
        grouped = groups(experiments, dataset)
        if not grouped:
            continue
        keys = grouping_keys(experiments, dataset)
        by = ", ".join(short(key) for key in keys) or "nothing but the seed"
        sections.append(
            f'<section id="{html.escape(dataset)}"><h2>{html.escape(dataset)}</h2>'
            f"<p>{len(grouped)} group(s) by {html.escape(by)}.</p>"
            f"{strip_plot(dataset, grouped, baselines)}"
            f"{groups_table(dataset, grouped)}</section>")
    if not experiments:
        sections.append("<p class='none'>No experiments yet: <code>dvc exp run -S KEY=VALUE</code>"
                        " or <code>lenet grid --seeds 5</code> make some.</p>")
    count = (f"{len(experiments)} experiment(s) on {len({r.commit for r in experiments})} "
             "commit(s)" if experiments else "no experiments")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LeNet-5 pipeline: the experiments</title><style>{STYLE}</style></head>
<body>
<header><h1>LeNet-5 pipeline: the experiments</h1>
<p>{count}, from <code>dvc exp show --json</code>; written by <code>lenet exp --html</code>.
Per dataset, the experiments are grouped by the params that vary between them, the seed
aside: each seed is a point, the bar is the group's mean, the dashed line the baseline
commit's result; ± is the points' sample standard deviation in percentage points.</p></header>
<main>{"".join(sections)}
<h2>Every experiment</h2>
{runs_table(baselines, experiments, datasets)}
</main>
</body></html>
"""


def run(path: Path, extra: list[str]) -> Path:
    shown = json.loads(workspace.run("dvc", "exp", "show", "--json", *extra).stdout or "[]")
    write_text(path, render(shown))
    experiments = runs(shown)[1]
    print(f"{path}: {len(experiments)} experiment(s)")
    return path

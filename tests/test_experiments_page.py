"""`lenet exp --html`: the experiments page. Unit tests of the grouping and the picture on a
hand-made `dvc exp show --json` answer; one integration test renders real experiments of the tiny
project and opens the page in headless Chromium with the network refused."""

from __future__ import annotations

import json
import re
import statistics
import xml.etree.ElementTree as ET

import pytest

from harness.helpers import chromium_offline
from harness.synthetic import run_in
from pipeline.tools import experiments_page as page

SVG = re.compile(r"<svg .*?</svg>", re.DOTALL)
NS = {"svg": "http://www.w3.org/2000/svg"}


def entry(rev: str, name: str | None, params: dict, accuracy: dict[str, float]) -> dict:
    """One row of `dvc exp show --json`: params.yaml's tree, metrics/<dataset>.json's test."""
    metrics = {f"metrics/{ds}.json": {"data": {"test": {"accuracy": a, "errors": round(
        (1 - a) * 10000)}}} for ds, a in accuracy.items()}
    metrics["reports/tune/summary.json"] = {"error": {"type": "FileNotFoundError", "msg": "-"}}
    return {"rev": rev, "name": name,
            "data": {"rev": rev, "params": {"params.yaml": {"data": params}}, "metrics": metrics}}


def params(seed: int, rate: float, mnist_epochs: int = 15) -> dict:
    return {"seed": seed,
            "datasets": {"mnist": {"train": {"epochs": mnist_epochs}},
                         "fashion_mnist": {"train": {"epochs": 40}}},
            "train": {"learning_rate": rate, "batch_size": 256}}


def accuracy(seed: int, rate: float, mnist_epochs: int = 15) -> dict[str, float]:
    """Distinct, known numbers per run, unevenly spaced (a median is not the mean): MNIST's
    depend on its epochs, Fashion-MNIST's not."""
    return {"mnist": 0.95 + seed**2 / 100000 + rate + (mnist_epochs - 15) / 1000,
            "fashion_mnist": 0.85 + seed**2 / 100000 + rate}


def shown(commits: dict[str, list[tuple[int, float, int]]]) -> list[dict]:
    """The workspace, then per baseline commit (seed 42, rate 0.002) its experiments."""
    answer = [entry("workspace", None, params(9, 0.5), accuracy(9, 0.5))]
    for commit, runs in commits.items():
        baseline = entry(commit, "main", params(42, 0.002), accuracy(42, 0.002))
        baseline["experiments"] = [
            {"name": f"{commit[:3]}-{i}", "executor": None,
             "revs": [{**entry(f"e{commit[:3]}{i:037d}", f"{commit[:3]}-{i}", params(*run),
                               accuracy(*run)), "experiments": None}]}
            for i, run in enumerate(runs)]
        answer.append(baseline)
    return answer


GRID = [(seed, rate, 15) for rate in (0.004, 0.002) for seed in (1, 2, 3)] + [(1, 0.002, 20)]


def test_experiments_are_grouped_by_what_varies_and_seeds_are_the_points_of_a_group():
    baselines, experiments = page.runs(shown({"a" * 40: GRID}))
    assert [run.name for run in baselines] == ["main"]  # the workspace row is left out
    assert len(experiments) == len(GRID)
    settings = {ds: [(g.setting, sorted(run.params["seed"] for run in g.runs))
                     for g in page.groups(experiments, ds)]
                for ds in ("mnist", "fashion_mnist")}
    epochs = "datasets.mnist.train.epochs"
    # MNIST: by its own epochs and the shared rate, in the values' order; the seeds inside.
    assert settings["mnist"] == [
        (((epochs, 15), ("train.learning_rate", 0.002)), [1, 2, 3]),
        (((epochs, 15), ("train.learning_rate", 0.004)), [1, 2, 3]),
        (((epochs, 20), ("train.learning_rate", 0.002)), [1]),
    ]
    # Fashion-MNIST: MNIST's epochs change nothing of its model, so they do not split its groups.
    assert settings["fashion_mnist"] == [
        ((("train.learning_rate", 0.002),), [1, 1, 2, 3]),
        ((("train.learning_rate", 0.004),), [1, 2, 3]),
    ]


def test_experiments_of_two_commits_are_never_pooled():
    _, experiments = page.runs(shown({"a" * 40: GRID[:2], "b" * 40: GRID[:2]}))
    grouped = page.groups(experiments, "mnist")
    assert [g.setting for g in grouped] == [(("commit", "aaaaaaa"),), (("commit", "bbbbbbb"),)]
    assert [len(g.runs) for g in grouped] == [2, 2]


def test_the_picture_has_a_point_per_seed_and_a_mean_per_group_at_the_right_place():
    html = page.render(shown({"a" * 40: GRID}))
    plots = [ET.fromstring(svg) for svg in SVG.findall(html)]
    assert [svg.get("data-dataset") for svg in plots] == ["mnist", "fashion_mnist"]
    mnist = plots[0]
    rows = mnist.findall("svg:g[@class='group']", NS)
    assert [row.get("data-label") for row in rows] == [
        "mnist.train.epochs=15, train.learning_rate=0.002",
        "mnist.train.epochs=15, train.learning_rate=0.004",
        "mnist.train.epochs=20, train.learning_rate=0.002",
    ]
    x_of = {}  # accuracy -> x: the axis must keep the order of the numbers
    for row, (epochs, rate, seeds) in zip(rows, [(15, 0.002, (1, 2, 3)), (15, 0.004, (1, 2, 3)),
                                                 (20, 0.002, (1,))], strict=True):
        points = row.findall("svg:circle[@class='seed']", NS)
        expected = [accuracy(seed, rate, epochs)["mnist"] for seed in seeds]
        assert sorted(float(p.get("data-accuracy")) for p in points) == pytest.approx(expected)
        means = row.findall("svg:line[@class='mean']", NS)
        assert len(means) == 1
        mean = float(means[0].get("data-mean"))
        assert mean == pytest.approx(statistics.fmean(expected))
        x_of.update({float(p.get("data-accuracy")): float(p.get("cx")) for p in points})
        x_of[mean] = float(means[0].get("x1"))
    xs = [x for _, x in sorted(x_of.items())]
    assert xs == sorted(xs) and xs[0] < xs[-1]
    # The baseline commit: a dashed line with its accuracy.
    assert "commit aaaaaaa: 96.96%" in ET.tostring(mnist, encoding="unicode")
    # The table lists every experiment and the commit, nothing from elsewhere is loaded.
    assert all(f">aaa-{i}<" in html for i in range(len(GRID))) and "main (the commit)" in html
    assert not re.search(r"<script|<link|@import|url\(", html)


def test_without_experiments_the_page_says_how_to_make_some():
    html = page.render(shown({"a" * 40: []}))
    assert "<svg" not in html and "lenet grid --seeds 5" in html and "main (the commit)" in html


@pytest.mark.integration
def test_the_page_of_real_experiments_shows_each_seed_and_mean_offline(
    experimented_project, tmp_path
):
    """The template's three experiments of the tiny project: seeds 42 (rate-1, from DVC's run
    cache) and 43 (s43) at the committed rate, seed 42 at another rate (rate-2); `lenet exp
    --html`, then Chromium."""
    project = experimented_project
    answer = json.loads(run_in(project, "dvc", "exp", "show", "--json").stdout)
    truth = {run["name"]: (run["data"]["params"]["params.yaml"]["data"]["train"]["learning_rate"],
                           run["data"]["metrics"]["metrics/digits.json"]["data"]["test"]["accuracy"])
             for commit in answer for group in commit.get("experiments") or []
             for run in group["revs"]}
    assert set(truth) == {"rate-1", "rate-2", "s43"}

    printed = run_in(project, "lenet", "exp", "--html").stdout
    html_page = project / "reports" / "experiments.html"
    assert printed.startswith("reports/experiments.html: 3 experiment(s)"), printed
    untracked = run_in(project, "git", "status", "--porcelain",
                       "--untracked-files=all").stdout
    assert "experiments.html" not in untracked, untracked  # .gitignore keeps it out of git

    dom, requests = chromium_offline(html_page, tmp_path / "experiments.png", window="1100,900")
    assert requests == []
    plot = ET.fromstring(SVG.search(dom).group(0))
    rows = {row.get("data-label"): row for row in plot.findall("svg:g[@class='group']", NS)}
    assert set(rows) == {"train.learning_rate=0.002", "train.learning_rate=0.004"}
    for rate, row in ((0.002, rows["train.learning_rate=0.002"]),
                      (0.004, rows["train.learning_rate=0.004"])):
        expected = {name: a for name, (r, a) in truth.items() if r == rate}
        points = row.findall("svg:circle[@class='seed']", NS)
        assert {p.get("data-experiment"): float(p.get("data-accuracy")) for p in points} == (
            pytest.approx(expected))
        (mean,) = row.findall("svg:line[@class='mean']", NS)
        assert float(mean.get("data-mean")) == pytest.approx(statistics.fmean(expected.values()))
    table = dom.split('<table class="runs">', 1)[1]
    assert all(f"<td>{name}</td>" in table and f"{a:.2%}" in table
               for name, (_, a) in truth.items())

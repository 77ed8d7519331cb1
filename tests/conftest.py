"""Shared fixtures. Two tiers (pyproject.toml's markers): unit tests are the default; a module that
runs real DVC, Prefect or Chromium marks itself `integration`. `make test-fast` runs the unit tier.

Building a tiny project (git, DVC, a reference profile) and reproducing it cost tens of seconds,
so each is done once per test run (the session templates) and every test gets its own copy.
"""

from __future__ import annotations

import functools
import http.server
import urllib.request
from pathlib import Path

import pytest
import yaml

from harness import shared_server
from harness.helpers import LoopbackServer, built_once
from harness.synthetic import (
    EXPERIMENTED_GRID,
    TUNED_TRIALS,
    commit_all,
    copy_project,
    make_tiny_project,
    run_in,
    set_params,
    tiny_params,
    write_mirror,
)


def pytest_collection_modifyitems(items):
    """Integration tests first, unit tests after: with pytest-xdist the minute-long tests then
    start early, and the second-long ones fill the workers' last gaps (`make test` lets an idle
    worker steal queued tests from a busy one) instead of a long test running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)


SHARED_SERVER = "prefect-shared"


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory, worker_id) -> shared_server.SharedServer:
    """One Prefect server on PostgreSQL for the whole run, started by the first test process
    that asks and shared by all (harness/shared_server.py: auth on, lost runs crashed after 50 s);
    pytest_sessionfinish stops it."""
    def build(base: Path) -> Path:
        shared_server.start(base)
        return base

    return shared_server.attach(built_once(tmp_path_factory, worker_id, SHARED_SERVER, build))


def pytest_sessionfinish(session):
    """The process that ran the session stops the shared server: with pytest-xdist, the
    controller, once every test process has ended (their base folders are inside its own)."""
    if hasattr(session.config, "workerinput"):  # a pytest-xdist test process
        return
    base = session.config._tmp_path_factory.getbasetemp()
    for folder in base.glob(f"{SHARED_SERVER}*"):
        if folder.is_dir() and not folder.is_symlink():  # not mktemp's `...current` link to it
            shared_server.stop(folder)


@pytest.fixture(autouse=True)
def fresh_urlopen_proxies():
    """urllib's shared opener reads the proxy variables once, when first used: one built while a
    test pointed HTTP_PROXY at its sentinel would send later tests' loopback requests to that
    closed proxy. Each test starts and ends with none built."""
    urllib.request.install_opener(None)
    yield
    urllib.request.install_opener(None)


@pytest.fixture
def mirror(tmp_path) -> tuple[Path, dict]:
    """A folder mirror with one tiny dataset `digits`, and that dataset's catalog entry."""
    root = tmp_path / "mirror"
    return root, write_mirror(root, "digits")


@pytest.fixture
def http_mirror(mirror):
    """The mirror served by a real HTTP server on a free loopback port."""
    root, entry = mirror
    with LoopbackServer(functools.partial(QuietFiles, directory=str(root))) as server:
        yield f"{server.url}/", root, entry


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def params_file(tmp_path, mirror) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params({"digits": mirror[1]}), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def tiny_template(tmp_path_factory, worker_id) -> tuple[Path, Path]:
    """(project, mirror): a committed tiny project, built once per test run. Copy, never modify."""
    def build(base: Path) -> Path:
        entry = write_mirror(base / "mirror", "digits")
        make_tiny_project(base / "project", tiny_params({"digits": entry}), base / "mirror")
        return base

    base = built_once(tmp_path_factory, worker_id, "template", build)
    return base / "project", base / "mirror"


@pytest.fixture(scope="session")
def reproduced_template(tiny_template, tmp_path_factory, worker_id) -> tuple[Path, str]:
    """(project, output of its first `dvc repro`, stdout then stderr): the tiny project with its
    results committed."""
    project, mirror = tiny_template

    def build(base: Path) -> Path:
        reproduced = copy_project(project, base / "project")
        result = run_in(reproduced, "dvc", "repro", env={"LENET_DATA_MIRROR": mirror.as_uri()})
        (base / "repro-output.txt").write_text(result.stdout + result.stderr)
        commit_all(reproduced, "results")
        return base

    base = built_once(tmp_path_factory, worker_id, "reproduced", build)
    return base / "project", (base / "repro-output.txt").read_text()


@pytest.fixture(scope="session")
def tuned_template(reproduced_template, tiny_template, tmp_path_factory, worker_id) -> Path:
    """The reproduced tiny project after one uninterrupted search (`dvc repro tune/dvc.yaml`) of
    three trials: a search killed after its second trial has one left to resume."""
    def build(base: Path) -> Path:
        tuned = copy_project(reproduced_template[0], base / "project")
        set_params(tuned, "tune", max_trials=TUNED_TRIALS)
        run_in(
            tuned,
            "dvc",
            "repro",
            "tune/dvc.yaml",
            env={"LENET_DATA_MIRROR": tiny_template[1].as_uri()},
        )
        commit_all(tuned, "search")
        return base

    return built_once(tmp_path_factory, worker_id, "tuned", build) / "project"


@pytest.fixture(scope="session")
def experimented_template(reproduced_template, tiny_template, tmp_path_factory, worker_id) -> Path:
    """The reproduced tiny project with three experiments: seed 43 at the committed rate
    (`dvc exp run -n s43`), then the README's grid on one machine, `lenet grid -S
    train.learning_rate=0.002,0.004 --name rate` (0.002 is the committed rate: DVC's run cache
    gives its results). Two tiny trainings, shared by the tests that read experiments."""
    def build(base: Path) -> Path:
        project = copy_project(reproduced_template[0], base / "project")
        env = {"LENET_DATA_MIRROR": tiny_template[1].as_uri()}
        run_in(project, "dvc", "exp", "run", "-n", "s43", "-S", "seed=43", env=env)
        run_in(project, "git", "checkout", "--", ".")
        run_in(project, "dvc", "checkout", "--force", "dvc.yaml", env=env)
        run_in(project, "lenet", *EXPERIMENTED_GRID, env=env)
        return base

    return built_once(tmp_path_factory, worker_id, "experimented", build) / "project"


@pytest.fixture
def tiny_project(tiny_template, tmp_path, monkeypatch) -> Path:
    """A real git + DVC repository holding this project's pipeline, set up for the tiny dataset
    (nothing run yet); LENET_DATA_MIRROR points at the tiny mirror."""
    project, mirror = tiny_template
    monkeypatch.setenv("LENET_DATA_MIRROR", mirror.as_uri())
    return copy_project(project, tmp_path / "project")


@pytest.fixture
def reproduced_project(reproduced_template, tiny_template, tmp_path, monkeypatch) -> Path:
    """The tiny project after `dvc repro`, its results committed: DVC has nothing to do."""
    monkeypatch.setenv("LENET_DATA_MIRROR", tiny_template[1].as_uri())
    return copy_project(reproduced_template[0], tmp_path / "project")


@pytest.fixture
def experimented_project(experimented_template, tiny_template, tmp_path, monkeypatch) -> Path:
    """A copy of experimented_template: the tiny project, reproduced, with three experiments."""
    monkeypatch.setenv("LENET_DATA_MIRROR", tiny_template[1].as_uri())
    return copy_project(experimented_template, tmp_path / "project")

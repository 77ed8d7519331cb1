"""The Prefect flow against a real Prefect server (SQLite), real DVC and a real process worker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from pipeline import orchestrate
from tests.conftest import run_in
from tests.prefect_helpers import (
    Sentinel,
    api,
    flow_runs,
    free_port,
    stop_session,
    task_runs,
    wait_for,
)
from tests.synthetic import write_mirror

STAGES = {f"{stage}@digits" for stage in
          ("download", "validate", "preprocess", "train", "evaluate", "export")}


@pytest.fixture(scope="module")
def sentinel():
    proxy = Sentinel()
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory, sentinel):
    """A real Prefect server on a free loopback port, stopped by its PID afterwards."""
    state = tmp_path_factory.mktemp("prefect")
    saved = {k: os.environ.get(k) for k in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")}
    os.environ.update(HTTP_PROXY=sentinel.url, HTTPS_PROXY=sentinel.url, NO_PROXY="127.0.0.1,localhost")
    url = orchestrate.start_server(free_port(), state_dir=state)
    yield url
    assert orchestrate.stop_server(state_dir=state)
    assert not orchestrate.healthy(url)
    for key, value in saved.items():
        os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture
def flow_env(prefect_server, monkeypatch, tmp_path):
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-client"))
    return prefect_server


@pytest.fixture(autouse=True)
def nothing_reaches_the_internet(sentinel):
    before = len(sentinel.requests)
    yield
    assert sentinel.requests[before:] == [], "tried to reach the internet"


def latest_run(url: str, flow_name: str) -> dict:
    return flow_runs(url, flow_name)[0]


def test_flow_runs_every_dvc_stage_as_a_completed_task(tiny_project, flow_env):
    run_in(tiny_project, "python", "-m", "pipeline.orchestrate", "run")

    run = latest_run(flow_env, "lenet-pipeline")
    assert run["state"]["type"] == "COMPLETED"
    tasks = task_runs(flow_env, run["id"])
    assert {t["name"] for t in tasks} == STAGES
    assert {t["state"]["type"] for t in tasks} == {"COMPLETED"}
    artifacts = api(flow_env, "/artifacts/filter", {"artifacts": {"key": {"any_": ["lenet-metrics"]}}})
    assert "| digits |" in artifacts[0]["data"]
    # DVC's own bookkeeping, as after `dvc repro`: nothing left to do.
    assert "didn't change" in run_in(tiny_project, "dvc", "repro").stdout


def test_failing_stage_fails_the_flow_and_names_the_stage(tiny_project, flow_env, tmp_path):
    # Same checksums, different content: labels without class 9, which validation rejects.
    bad = write_mirror(tmp_path / "bad", "digits")
    labels = tmp_path / "bad" / "digits" / bad["files"]["train_labels"]["name"]
    from tests.synthetic import make_split, write_idx_gz

    _, y = make_split(20, seed=0)
    bad["files"]["train_labels"]["md5"] = write_idx_gz(labels, y % 9)
    params = yaml.safe_load((tiny_project / "params.yaml").read_text())
    params["datasets"]["digits"] = bad
    (tiny_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    os.environ["LENET_DATA_MIRROR"] = f"file://{tmp_path / 'bad'}"

    result = run_in(tiny_project, "python", "-m", "pipeline.orchestrate", "run", check=False)
    assert result.returncode == 1
    assert "stage validate@digits failed" in result.stderr
    run = latest_run(flow_env, "lenet-pipeline")
    assert run["state"]["type"] == "FAILED"
    assert "validate@digits" in run["state"]["message"]
    states = {t["name"]: t["state"]["type"] for t in task_runs(flow_env, run["id"])}
    assert states["validate@digits"] == "FAILED"
    assert "preprocess@digits" not in states


def test_cron_deployment_is_created_and_listed(tiny_project, flow_env):
    serve = subprocess.Popen(
        [sys.executable, "-m", "pipeline.orchestrate", "serve", "--cron", "*/30 * * * *",
         "--name", "test-nightly"],
        cwd=tiny_project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        def listed():
            out = run_in(tiny_project, "prefect", "deployment", "ls", check=False).stdout
            return "lenet-pipeline/test-nightly" in out

        wait_for(listed, 90, "the deployment to be listed")
        deployment = api(flow_env, "/deployments/name/lenet-pipeline/test-nightly")
        assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["*/30 * * * *"]
    finally:
        stop_session(serve)


def test_train_stage_runs_on_the_gpu_pool_worker(tiny_project, flow_env, tmp_path):
    """The worker trains in its own checkout; the model comes back through the DVC remote."""
    remote = tmp_path / "dvc-remote"
    worker_checkout = tmp_path / "worker-checkout"
    run_in(tiny_project, "git", "clone", "-q", str(tiny_project), str(worker_checkout))
    for checkout in (tiny_project, worker_checkout):
        run_in(checkout, "dvc", "remote", "add", "--local", "-f", "-d", "shared", str(remote))
    pool = "gpu-test"
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "pipeline.orchestrate", "worker", "--pool", pool],
        cwd=worker_checkout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: api(flow_env, "/deployments/filter",
                             {"work_pools": {"name": {"any_": [pool]}}}), 90, "the train deployment")
        run_in(tiny_project, "python", "-m", "pipeline.orchestrate", "run", "--train-pool", pool)
    finally:
        stop_session(worker)

    train_run = latest_run(flow_env, "lenet-train")
    assert train_run["state"]["type"] == "COMPLETED"
    assert train_run["work_pool_name"] == pool
    assert train_run["parameters"]["stage"] == "train@digits"
    assert (worker_checkout / "models/digits/model.keras").is_file()
    main_run = latest_run(flow_env, "lenet-pipeline")
    assert main_run["state"]["type"] == "COMPLETED"
    assert train_run["parent_task_run_id"] in {t["id"] for t in task_runs(flow_env, main_run["id"])}
    assert (tiny_project / "metrics/digits.json").is_file()
    assert "didn't change" in run_in(tiny_project, "dvc", "repro").stdout

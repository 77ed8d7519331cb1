"""What going wide costs: a grid on a pool of two local workers against the same sets one after
another in one checkout, and what 20 seeds would take on 1, 5 and 20 machines.

    python -m bench.grid_cost --tiny          # the tests' synthetic project: 3 seeds
    python -m bench.grid_cost --seeds 5       # this checkout's HEAD on the real data

Everything runs on this machine, as the tests run it: a Prefect server (SQLite), a moto S3 server
as the shared DVC remote, a bare git repository as the git remote, two `lenet worker` processes
with their own homes and DVC caches. Per set it records the worker's phases (checkout, compute,
push) and the coordinator's `dvc exp pull` (collect). The baseline runs the same sets with
`lenet grid` without a pool, one after another, in a copy of the project with its own cache (no
run cache shared with the workers); on the real data it runs the first trained set only (a
5-seed baseline is half an hour more on 2 cores).

Two workers on a 2-core machine share the cores: the wall time here measures the overhead, not a
speed-up. The projection assumes one set per machine at the baseline's compute time, plus the
measured per-set overhead, plus the coordinator collecting the sets one after another.

Writes bench/results/grid_cost-<tiny|real>.json; docs/benchmarks.md's `grid-cost` block is
rendered from them (python -m docgen).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import ROOT, grid_cost_file
from docgen.results import PROJECTED_MACHINES, PROJECTED_SEEDS
from harness.helpers import api, chromium_dom, free_port
from harness.pool import kill_worker, start_worker
from harness.s3 import MotoS3
from harness.synthetic import commit_all, make_tiny_project, run_in, tiny_params, write_mirror
from pipeline.core import workspace
from pipeline.orchestration import server, watch
from pipeline.runtime import machine

POOL = "bench"
QUICK = {"PREFECT_WORKER_HEARTBEAT_SECONDS": "5", "PREFECT_WORKER_QUERY_SECONDS": "2",
         "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


def tiny_project(base: Path) -> Path:
    entry = write_mirror(base / "mirror", "digits")
    project = make_tiny_project(base / "project", tiny_params({"digits": entry}), base / "mirror")
    os.environ["LENET_DATA_MIRROR"] = (base / "mirror").as_uri()
    run_in(project, "git", "rm", "-q", "tune/dvc.yaml")  # never searched: no outputs to apply
    run_in(project, "dvc", "repro")
    commit_all(project, "results")
    return project


def real_project(base: Path) -> Path:
    """A clone of this checkout's HEAD, its outputs checked out from a hard-linked copy of this
    checkout's DVC cache (objects only: no run cache)."""
    project = base / "project"
    run_in(ROOT, "git", "clone", "-q", str(ROOT), str(project))
    copy_cache(project, base / "project-cache")
    workspace.share_web_assets(ROOT, project)
    run_in(project, "dvc", "checkout", "--quiet", "dvc.yaml")  # not the stale search's outputs
    return project


def copy_cache(project: Path, cache: Path) -> None:
    cache.mkdir()
    source = Path(run_in(ROOT, "dvc", "cache", "dir").stdout.strip())
    subprocess.run(["cp", "-al", str(source / "files"), str(cache / "files")], check=True)
    run_in(project, "dvc", "cache", "dir", "--local", str(cache))


def pool_run(project: Path, base: Path, seeds: int, url: str) -> tuple[float, dict]:
    """The grid on two local workers: (wall seconds, per-set timings)."""
    from pipeline.orchestration import grid

    run_in(project, "git", "clone", "-q", "--bare", str(project), str(base / "origin.git"))
    run_in(project, "git", "remote", "remove", "origin", check=False)  # a clone's own origin
    run_in(project, "git", "remote", "add", "origin", str(base / "origin.git"))
    env = {**os.environ, **QUICK, "PREFECT_API_URL": url}
    workers = {name: start_worker(POOL, name, base / name, env) for name in ("w1", "w2")}
    try:
        commit = run_in(project, "git", "rev-parse", "HEAD").stdout.strip()
        planned = grid.plan((project / "params.yaml").read_text(), seeds, [], "pool", commit)
        coordinator = grid.Coordinator(project, planned, POOL, "origin", 2, None)
        start = time.perf_counter()
        assert coordinator.run() == 0
        wall = time.perf_counter() - start
        screenshot_grid(url, base)
        # What a user compares next: the experiments table, and each set's test accuracy.
        print(run_in(project, "lenet", "exp").stdout)
        for one in planned:
            coordinator.timings[one.name]["accuracy"] = experiment_accuracy(project, one.name)
        return wall, coordinator.timings
    finally:
        for name, process in workers.items():
            kill_worker(base / name)
            process.wait()


def screenshot_grid(url: str, base: Path) -> None:
    """Prefect's UI on the grid's flow run (its sets are the child runs), in headless Chromium:
    reports/screenshots/prefect-grid.png."""
    from pipeline.orchestration.grid import GRID_FLOW

    (run,) = api(url, "/flow_runs/filter", {"flows": {"name": {"any_": [GRID_FLOW]}},
                                            "sort": "EXPECTED_START_TIME_DESC", "limit": 1})
    shot = ROOT / "reports" / "screenshots" / "prefect-grid.png"
    chromium_dom(f"{url.removesuffix('/api')}/runs/flow-run/{run['id']}", base / "chromium",
                 "--virtual-time-budget=20000", "--window-size=1400,1000", f"--screenshot={shot}")
    print(f"wrote {shot.relative_to(ROOT)}")


def experiment_accuracy(project: Path, name: str) -> dict[str, float]:
    """Test accuracy per dataset of the experiment `name` (its metrics files)."""
    from pipeline.orchestration import grid

    params = yaml.safe_load(grid.experiment_file(project, name, "params.yaml"))
    return {
        ds: json.loads(grid.experiment_file(project, name, f"metrics/{ds}.json"))["test"][
            "accuracy"
        ]
        for ds in params["datasets"]
    }


def baseline(project: Path, copy: Path, seeds: int, only_first_trained: bool) -> dict:
    """The same sets in one checkout, one after another: seconds per set."""
    from pipeline.orchestration import grid

    commit = run_in(project, "git", "rev-parse", "HEAD").stdout.strip()
    planned = grid.plan((project / "params.yaml").read_text(), seeds, [], "here", commit)
    if only_first_trained:
        planned = planned[1:2]  # the first set is the committed seed: nothing to train
    seconds = {}
    for one in planned:
        start = time.perf_counter()
        grid.run_here(copy, [one])
        seconds[one.name] = time.perf_counter() - start
    return seconds


def projection(per_set_compute: float, overhead: float, collect: float) -> dict[int, float]:
    """Minutes for PROJECTED_SEEDS seeds on m machines: rounds of one set per machine, each set
    paying the overhead, then the coordinator's pulls one after another for the last round."""
    return {
        m: (
            math.ceil(PROJECTED_SEEDS / m) * (per_set_compute + overhead)
            + min(m, PROJECTED_SEEDS) * collect
        )
        / 60
        for m in PROJECTED_MACHINES
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tiny", action="store_true", help="the synthetic project, not the real data"
    )
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    kind = "tiny" if args.tiny else "real"
    base = Path(tempfile.mkdtemp(prefix="grid-cost-"))
    try:
        project = tiny_project(base) if args.tiny else real_project(base)
        copy = base / "baseline"
        if args.tiny:
            shutil.copytree(project, copy, symlinks=True)
        else:
            run_in(project, "git", "clone", "-q", str(project), str(copy))
            copy_cache(copy, base / "baseline-cache")
            workspace.share_web_assets(ROOT, copy)
            run_in(copy, "dvc", "checkout", "--quiet", "dvc.yaml")
        with MotoS3() as s3:
            os.environ.update(s3.env)
            s3.add_dvc_remote(project, s3.bucket("lenet-bench"))
            port = free_port()
            # Before anything imports Prefect (start_server does), which reads its settings once.
            os.environ.update(
                {
                    **QUICK,
                    **watch.heartbeat_env(),  # the grid's own flow run, in this process
                    "PREFECT_API_URL": server.api_url(port),
                    "PREFECT_HOME": str(base / "coordinator"),
                }
            )
            url = server.start_server(port, state_dir=base / "prefect")
            try:
                here = baseline(project, copy, args.seeds, only_first_trained=not args.tiny)
                wall, timings = pool_run(project, base, args.seeds, url)
            finally:
                server.stop_server(state_dir=base / "prefect")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    trained = {name: t for name, t in timings.items() if not name.endswith("-1")}
    compute = statistics.median(t["compute"] for t in trained.values())
    overhead = statistics.median(t["checkout"] + t["push"] + t["collect"] for t in trained.values())
    collect = statistics.median(t["collect"] for t in trained.values())
    sequential = statistics.median(here.values())
    commit = run_in(ROOT, "git", "rev-parse", "--short", "HEAD").stdout.strip()
    record = {
        "kind": kind,
        "seeds": args.seeds,
        "commit": commit,
        "machine": {k: v for k, v in machine.cpu().items() if k != "flags"},
        "command": f"python -m bench.grid_cost {'--tiny ' if args.tiny else ''}"
                   f"--seeds {args.seeds}",
        "pool_wall_s": wall,
        "sets": timings,
        "baseline_s": here,
        "median": {
            "baseline_set_s": sequential,
            "worker_compute_s": compute,
            "overhead_s": overhead,
            "collect_s": collect,
        },
        "projection_min": projection(sequential, overhead, collect),
    }
    grid_cost_file(kind).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["median"], indent=2))
    print(
        f"pool of 2 on this machine: {wall:.0f} s for {args.seeds} sets; one after another here: "
        f"{sequential:.0f} s per trained set"
    )
    for m, minutes in record["projection_min"].items():
        print(f"{PROJECTED_SEEDS} seeds on {m:>2} machine(s): about {minutes:.0f} min")
    print(f"wrote {grid_cost_file(kind).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

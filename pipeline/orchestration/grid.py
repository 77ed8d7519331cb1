"""`lenet grid`: many parameter sets of this commit as DVC experiments, on a pool's workers or here.

    lenet grid --seeds 5                        # params.yaml's seed, seed+1, ... seed+4
    lenet grid -S train.learning_rate=0.002,0.004 -S train.batch_size=128,256   # 4 sets
    lenet grid --seeds 3 -S model.dropout=0,0.1 --pool cpu                      # 6 sets, on workers

Sets are the cross product of --seeds and every -S (the syntax of `dvc exp run -S`, values split
at commas outside brackets: `-S model.batch_norm=[F5,F6],[]` is two values). Each set is one
DVC experiment, named `<prefix>-<k>`; `dvc exp show` (or `lenet exp`) lists them and
`dvc exp apply NAME` promotes one.

Without --pool the sets run here, one after another (`dvc exp run`, in this workspace: it ends
holding the last set's results, as after any `dvc exp run`). With --pool each set is a
flow run of `lenet-set/set-<pool>` (pipeline/orchestration/sets.py) on whichever worker is free;
the worker pushes the experiment (git ref to the git remote, outputs and run cache to the DVC
remote) and this command pulls it (`dvc exp pull`): nothing is trained here.

Faults (dispatch.py, watch.py): a set whose run stops sending heartbeats (a machine switched off,
a worker killed, even one restarted at once under the same name) is marked Crashed by the Prefect
server and sent again, to any worker; so is a set that passes its time limit on its worker. A set
that fails or is cancelled is reported, not retried. The grid is one Prefect flow run with a child
run per set, so Prefect's UI shows it. Its state is on the Prefect server (the sets' runs are
tagged with the grid's id) and in git (the experiments pulled): run the same command again after
the coordinator was stopped and it collects what finished, waits for what runs and sends only
the rest. One grid per workspace at a time (the run lock, pipeline/core/runlock.py).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from prefect import flow
from prefect.states import Failed

from pipeline.core import runlock, workspace
from pipeline.core.config import flatten, parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.paths import ProjectPaths
from pipeline.orchestration import dispatch, sets
from pipeline.orchestration.dispatch import say

GRID_FLOW = "lenet-grid"


class GridError(PipelineError):
    """A grid that cannot be planned, sent or collected."""


@dataclass(frozen=True)
class ParamSet:
    name: str                   # the experiment's name
    overrides: tuple[str, ...]  # `dvc exp run -S` arguments

    def label(self) -> str:
        return " ".join(self.overrides)


def plan(params_yaml: str, seeds: int | None, settings: list[str], prefix: str | None,
         commit: str) -> list[ParamSet]:
    """The sets, checked against params.yaml: each key exists, each set's params are valid."""
    params = yaml.safe_load(params_yaml)
    known = flatten(params)
    axes: list[list[str]] = []
    if seeds is not None:
        if seeds < 1:
            raise GridError(f"--seeds {seeds}: give at least 1")
        axes.append([f"seed={params['seed'] + k}" for k in range(seeds)])
    for setting in settings:
        key, sep, values = setting.partition("=")
        if not sep or not key or not values:
            raise GridError(f"-S {setting!r}: expected key=value[,value...]")
        if key not in known:
            near = [k for k in known if k.endswith("." + key.rpartition(".")[2])][:3]
            raise GridError(f"-S {setting!r}: params.yaml has no key {key!r}"
                            + (f" (did you mean {', '.join(near)}?)" if near else ""))
        if key == "seed" and seeds is not None:
            raise GridError("-S seed=... and --seeds both set the seed: give one")
        axes.append([f"{key}={value}" for value in split_values(values)])
    if not axes:
        raise GridError("nothing to run: give --seeds N and/or -S key=value,value")
    combos = [tuple(combo) for combo in itertools.product(*axes)]
    prefix = prefix or f"grid-{digest(commit, params_yaml, [' '.join(c) for c in combos])[:6]}"
    planned = [ParamSet(f"{prefix}-{k}", combo) for k, combo in enumerate(combos, 1)]
    for one in planned:
        check_params(params, one)
    return planned


def split_values(values: str) -> list[str]:
    """"a,b" -> ["a", "b"]; commas inside [] or {} belong to the value: "[F5,F6],[]" is two."""
    parts, depth, current = [], 0, ""
    for char in values:
        depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def digest(commit: str, params_yaml: str, labels: list[str]) -> str:
    """What a grid runs, as a hex digest: the commit, params.yaml and each set's overrides."""
    return hashlib.sha256("\n".join([commit, params_yaml, *labels]).encode()).hexdigest()


def apply_overrides(params: dict, one: ParamSet) -> dict:
    """`params` with the set's `-S` overrides applied, as `dvc exp run -S` writes them."""
    changed = copy.deepcopy(params)
    for override in one.overrides:
        key, _, value = override.partition("=")
        *parents, leaf = key.split(".")
        node = changed
        for part in parents:
            node = node[part]
        try:
            node[leaf] = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise GridError(f"set {one.name}: {override!r}: not a YAML value: "
                            f"{str(error).splitlines()[0]}") from None
    return changed


def check_params(params: dict, one: ParamSet) -> None:
    """Refuse a set whose params.yaml would be invalid, naming the set, before anything runs."""
    changed = apply_overrides(params, one)
    try:
        parse_params(changed)
    except PipelineError as error:
        raise GridError(f"set {one.name} ({one.label()}): {error}") from None


def experiments(root: Path) -> dict[str, str]:
    """{name: git ref} of the experiments whose baseline is HEAD (DVC keeps them as git refs)."""
    head = workspace.run("git", "rev-parse", "HEAD", cwd=root).stdout.strip()
    refs = workspace.run("git", "for-each-ref", "--format=%(refname)",
                         f"refs/exps/{head[:2]}/{head[2:]}/", cwd=root).stdout.split()
    return {ref.rpartition("/")[2]: ref for ref in refs}


def experiment_file(root: Path, name: str, path: str) -> str:
    """`path` as the experiment `name` (of HEAD) committed it."""
    return workspace.run("git", "show", f"{experiments(root)[name]}:{path}", cwd=root).stdout


def run_here(root: Path, planned: list[ParamSet]) -> int:
    """Every set not yet an experiment, here, one after another."""
    done = experiments(root)
    for k, one in enumerate(planned, 1):
        if one.name in done:
            say(f"{one.name} ({one.label()}): already an experiment, skipped")
            continue
        say(f"set {k}/{len(planned)}: {one.name} ({one.label()})")
        workspace.run("dvc", "exp", "run", "-n", one.name,
                      *[arg for o in one.overrides for arg in ("-S", o)], cwd=root, capture=False)
    return 0


class Coordinator:
    """Sends the sets to the pool, watches them (dispatch.py), and pulls each finished
    experiment; the whole grid is one Prefect flow run, each set a child run."""

    def __init__(self, root: Path, planned: list[ParamSet], pool: str, git_remote: str,
                 retries: int, time_limit: float | None):
        self.root, self.planned, self.pool = root, planned, pool
        self.git_remote, self.retries = git_remote, retries
        self.time_limit = time_limit or sets.TIME_LIMIT  # each set's, on its worker
        self.grid = planned[0].name.rpartition("-")[0]
        self.by_name = {one.name: one for one in planned}
        self.timings: dict[str, dict] = {}  # per set collected: its worker's phases and the pull

    def run(self) -> int:
        origin = sets.origin_of(self.root, self.git_remote)
        self.params = yaml.safe_load(origin.params_yaml)
        # The grid's runs on the server: its name, and what it runs (another commit or params.yaml
        # under the same --name is another grid).
        what = digest(origin.commit, origin.params_yaml, [one.label() for one in self.planned])
        tag = f"lenet-grid:{self.grid}:{what[:8]}"
        collected = self.already_here()
        say(f"grid {self.grid}: {len(self.planned)} sets of {origin.commit[:12]} on pool "
            f"{self.pool!r}; pushing this workspace's outputs to the DVC remote")
        workspace.run("dvc", "push", "--run-cache", cwd=self.root)
        sets.deploy_set_flow(self.pool)
        self.origin = origin
        job = dispatch.Dispatch(f"grid {self.grid}", self.pool, tag, list(self.by_name),
                                self.set_parameters, self.collect, self.retries, collected)

        @flow(name=GRID_FLOW, flow_run_name=f"{self.grid} on {self.pool}")
        def grid_flow(grid: str, pool: str, sets: dict[str, str], time_limit: float):
            """The grid as one Prefect flow run: each set's run is its child, so Prefect's UI
            shows the grid, its sets, their workers and states. Failed if a set failed."""
            failed = job.run()
            if failed:
                return Failed(message="; ".join(f"{name}: {why}" for name, why in failed.items()))
            return {"collected": sorted(job.collected)}

        grid_flow(self.grid, self.pool, {one.name: one.label() for one in self.planned},
                  self.time_limit, return_state=True)  # failures: below
        failed = job.failed
        for name, message in failed.items():
            print(f"error: {name}: {message}", file=sys.stderr)
        say(f"grid {self.grid}: {len(job.collected)} experiments here; compare them with "
            "`lenet exp` (or `dvc exp show`), promote one with `dvc exp apply NAME`")
        return 1 if failed else 0

    def set_parameters(self, name: str) -> dict:
        """The set flow's parameters for set `name`."""
        return {**self.origin.parameters(), "experiment": name,
                "time_limit": self.time_limit,
                "overrides": list(self.by_name[name].overrides)}

    def already_here(self) -> set[str]:
        """The grid's experiments this repository holds: each must be the set it names (a
        grid under the same --name with other params is refused, not mixed in)."""
        here = experiments(self.root).keys() & self.by_name.keys()
        for name in sorted(here):
            self.check_experiment(name)
        return here

    def check_experiment(self, name: str) -> None:
        """Refuse experiment `name` unless its params.yaml is this grid's set `name`."""
        expected = apply_overrides(self.params, self.by_name[name])
        found = yaml.safe_load(experiment_file(self.root, name, "params.yaml"))
        if found != expected:
            raise GridError(f"experiment {name} holds other params than this grid's set "
                            f"({self.by_name[name].label()}): another grid under the same "
                            f"name? Give another --name, or `dvc exp remove {name}`")

    def collect(self, name: str, run) -> bool:
        """Bring the experiment the worker pushed into this repository, outputs included,
        checked to be this set. A failed pull is tried again on the next polls."""
        start = time.monotonic()
        try:
            workspace.run("dvc", "exp", "pull", self.git_remote, name, cwd=self.root)
        except workspace.CommandFailed as failure:
            say(f"{name}: pulling it failed (tried again): {str(failure).splitlines()[0]}")
            return False
        self.check_experiment(name)
        timings = self.timings[name] = {**sets.seconds_of(run),
                                        "collect": time.monotonic() - start}
        took = ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())
        say(f"{name} ({self.by_name[name].label()}): done on {dispatch.worker_of(run)} ({took})")
        return True


def run(seeds: int | None, settings: list[str], pool: str | None, prefix: str | None,
        git_remote: str, retries: int, time_limit: float | None,
        root: Path | None = None) -> int:
    root = (root or Path.cwd()).resolve()
    commit = workspace.run("git", "rev-parse", "HEAD", cwd=root).stdout.strip()
    planned = plan(ProjectPaths(root).params.read_text(), seeds, settings, prefix, commit)
    runlock.claim(ProjectPaths(root).run_lock)  # one grid (or any run) per workspace at a time
    if pool is None:
        return run_here(root, planned)
    try:
        return Coordinator(root, planned, pool, git_remote, retries, time_limit).run()
    except KeyboardInterrupt:
        print("stopped; the sets sent go on on the pool: run the same command again to collect "
              "them and send the rest", file=sys.stderr)
        return 130

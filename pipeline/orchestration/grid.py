"""`lenet grid`: many parameter sets of this commit as DVC experiments, on a pool's workers or here.

    lenet grid --seeds 5                        # params.yaml's seed, seed+1, ... seed+4
    lenet grid -S train.learning_rate=0.002,0.004 -S train.batch_size=128,256   # 4 sets
    lenet grid --seeds 3 -S model.dropout=0,0.1 --pool cpu                      # 6 sets, on workers

Sets are the cross product of --seeds and every -S (the syntax of `dvc exp run -S`, values split
at commas outside brackets: `-S model.batch_norm=[F5,F6],[]` is two values). Each set is one DVC experiment, named `<prefix>-<k>`; `dvc exp show` (or `lenet exp`)
lists them and `dvc exp apply NAME` promotes one.

Without --pool the sets run here, one after another (`dvc exp run`, in this workspace: it ends
holding the last set's results, as after any `dvc exp run`). With --pool each set is a
flow run of `lenet-set/set-<pool>` (pipeline/orchestration/sets.py) on whichever worker is free;
the worker pushes the experiment (git ref to the git remote, outputs and run cache to the DVC
remote) and this command pulls it (`dvc exp pull`): nothing is trained here.

Faults: a set whose worker stops sending heartbeats (a machine switched off, a worker killed) is
marked Crashed and sent again, to any worker; a set that fails (or is cancelled) is reported, not
retried. The
grid's state is on the Prefect server (its flow runs are tagged with the grid's id) and in git
(the experiments pulled): run the same command again after the coordinator was stopped and it
collects what finished, waits for what runs and sends only the rest.

Imports pipeline.core and .orchestration.sets; imported by pipeline.cli (which connects to the
Prefect server first: orchestration.server.connect) and bench/.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.core import workspace
from pipeline.core.config import flatten, parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.paths import ProjectPaths
from pipeline.orchestration import sets

POLL_SECONDS = 2.0
# A worker is lost when its heartbeats stop for this many of its own intervals (Prefect's
# worker heartbeat: PREFECT_WORKER_HEARTBEAT_SECONDS, 30 s by default), plus some slack.
LOST_AFTER_INTERVALS = 3
LOST_SLACK_SECONDS = 10.0
PULL_TRIES = 3  # polls on which a finished set's `dvc exp pull` may fail before it counts as failed


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


def check_params(params: dict, one: ParamSet) -> None:
    """Refuse a set whose params.yaml would be invalid, naming the set, before anything runs."""
    import copy

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


def say(line: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {line}", flush=True)


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
    """Sends the sets to the pool, watches them, and pulls each finished experiment."""

    def __init__(self, root: Path, planned: list[ParamSet], pool: str, git_remote: str,
                 retries: int, lost_after: float | None):
        self.root, self.planned, self.pool = root, planned, pool
        self.git_remote, self.retries, self.lost_after = git_remote, retries, lost_after
        self.grid = planned[0].name.rpartition("-")[0]
        self.failed: dict[str, str] = {}
        self.pull_failures: dict[str, int] = {}
        self.timings: dict[str, dict] = {}  # per set collected: its worker's phases and the pull
        self.warned_idle = False

    def run(self) -> int:
        from prefect.client.orchestration import get_client

        origin = sets.origin_of(self.root, self.git_remote)
        # The grid's runs on the server: its name, and what it runs (another commit or params.yaml
        # under the same --name is another grid).
        what = digest(origin.commit, origin.params_yaml, [one.label() for one in self.planned])
        self.tag = f"lenet-grid:{self.grid}:{what[:8]}"
        say(f"grid {self.grid}: {len(self.planned)} sets of {origin.commit[:12]} on pool "
            f"{self.pool!r}; pushing this workspace's outputs to the DVC remote")
        workspace.run("dvc", "push", "--run-cache", cwd=self.root)
        sets.deploy_set_flow(self.pool)
        collected = experiments(self.root).keys() & {one.name for one in self.planned}
        last = None
        with get_client(sync_client=True) as client:
            while True:
                runs, sent = self.runs_by_set(client)
                workers = read_all(lambda offset, limit: client.read_workers_for_work_pool(
                    self.pool, offset=offset, limit=limit))
                for one in self.planned:
                    if one.name in collected or one.name in self.failed:
                        continue
                    run = runs.get(one.name)
                    state = run.state.type.value if run and run.state else None
                    if state == "COMPLETED":
                        if self.collect(one, run):
                            collected.add(one.name)
                    elif state in (None, "CRASHED"):
                        self.send(one, origin, run, sent.get(one.name, 0))
                    elif state in ("FAILED", "CANCELLED", "PAUSED"):
                        self.failed[one.name] = f"{run.state.name}: {run.state.message or ''}"
                        say(f"{one.name} ({one.label()}) {run.state.name} on {worker_of(run)}: "
                            f"{run.state.message}")
                    elif state in ("RUNNING", "PENDING", "CANCELLING") and self.lost(workers, run):
                        from prefect.states import Crashed

                        client.set_flow_run_state(run.id, Crashed(message=(
                            f"worker {worker_of(run)} stopped sending heartbeats; the set is "
                            "sent again")), force=True)
                        say(f"{one.name}: worker {worker_of(run)} lost; sending it again")
                line = self.progress(collected, runs)  # this poll's: sends show on the next
                if line != last:
                    say(line)
                    last = line
                self.warn_if_no_worker(workers, collected)
                if len(collected) + len(self.failed) == len(self.planned):
                    break
                time.sleep(POLL_SECONDS)
        for name, message in self.failed.items():
            print(f"error: {name}: {message}", file=sys.stderr)
        say(f"grid {self.grid}: {len(collected)} experiments here; compare them with `lenet exp`"
            " (or `dvc exp show`), promote one with `dvc exp apply NAME`")
        return 1 if self.failed else 0

    def runs_by_set(self, client) -> tuple[dict, dict[str, int]]:
        """Each set's latest flow run of this grid, and how many times each was sent: from the
        server, so a restarted coordinator counts the sends of the one before it."""
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
        from prefect.client.schemas.sorting import FlowRunSort

        runs = read_all(lambda offset, limit: client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[self.tag])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC, offset=offset, limit=limit))
        latest, sent = {}, {}
        for run in runs:  # later runs of a set replace earlier ones
            name = run.parameters.get("experiment")
            latest[name] = run
            sent[name] = sent.get(name, 0) + 1
        return latest, sent

    def send(self, one: ParamSet, origin: sets.Origin, previous, sent: int) -> None:
        from prefect.deployments import run_deployment

        if previous is not None and sent > self.retries:
            self.failed[one.name] = (f"{previous.state.name} {sent} times; last: "
                                     f"{previous.state.message}")
            say(f"{one.name} ({one.label()}): {self.failed[one.name]}")
            return
        run_deployment(sets.deployment(self.pool), timeout=0,
                       parameters={**origin.parameters(), "experiment": one.name,
                                   "overrides": list(one.overrides)},
                       tags=[self.tag, f"lenet-set:{one.name}"],
                       idempotency_key=f"{self.tag}:{one.name}:{sent}")

    def lost(self, workers: list, run) -> bool:
        """Has the worker that took `run` stopped sending heartbeats, or did no worker take it
        (PENDING without one) for as long? Compared with this machine's clock: keep the
        machines' clocks in sync (NTP)."""
        now = datetime.datetime.now(datetime.UTC)
        name = worker_of(run)
        worker = next((w for w in workers if w.name == name), None)
        if worker is None or worker.last_heartbeat_time is None:
            if run.state.type.value != "PENDING":
                return False
            since = run.state.timestamp
            limit = self.lost_after or LOST_AFTER_INTERVALS * 30 + LOST_SLACK_SECONDS
            return since is not None and (now - since).total_seconds() > limit
        limit = self.lost_after or (LOST_AFTER_INTERVALS * (worker.heartbeat_interval_seconds or 30)
                                    + LOST_SLACK_SECONDS)
        return (now - worker.last_heartbeat_time).total_seconds() > limit

    def warn_if_no_worker(self, workers: list, collected: set[str]) -> None:
        """Say once when sets wait and no worker of the pool is online."""
        if self.warned_idle or len(collected) == len(self.planned):
            return
        if not any(w.status.value == "ONLINE" for w in workers):
            say(f"no worker of pool {self.pool!r} is online: start one (`lenet worker --pool "
                f"{self.pool}`) on a machine that reaches this server; the sets wait for it")
            self.warned_idle = True

    def collect(self, one: ParamSet, run) -> bool:
        """Bring the experiment the worker pushed into this repository, outputs included.
        A failed pull is tried again on the next polls, then the set is reported failed."""
        start = time.monotonic()
        try:
            workspace.run("dvc", "exp", "pull", "--force", self.git_remote, one.name, cwd=self.root)
        except workspace.CommandFailed as failure:
            tries = self.pull_failures[one.name] = self.pull_failures.get(one.name, 0) + 1
            if tries >= PULL_TRIES:
                self.failed[one.name] = f"finished on {worker_of(run)}, but pulling it failed: {failure}"
                say(f"{one.name}: {self.failed[one.name]}")
            return False
        self.timings[one.name] = {**sets.seconds_of(run), "collect": time.monotonic() - start,
                                  "worker": worker_of(run)}
        took = ", ".join(f"{k} {v:.0f}s" for k, v in self.timings[one.name].items()
                         if k != "worker")
        say(f"{one.name} ({one.label()}): done on {worker_of(run)}" + (f" ({took})" if took else ""))
        return True

    def progress(self, collected: set[str], runs: dict) -> str:
        running, queued = [], 0
        for one in self.planned:
            run = runs.get(one.name)
            if one.name in collected or one.name in self.failed or run is None:
                continue
            if run.state.type.value == "RUNNING":
                running.append(f"{one.name} on {worker_of(run)}")
            elif run.state.type.value in ("SCHEDULED", "PENDING"):
                queued += 1
        return (f"grid {self.grid}: {len(collected)}/{len(self.planned)} done, "
                f"{len(running)} running" + (f" ({'; '.join(running)})" if running else "")
                + f", {queued} queued, {len(self.failed)} failed")


def read_all(read_page, page: int = 200) -> list:
    """Every item of a Prefect listing, page by page (its server answers 200 at most)."""
    items: list = []
    while True:
        batch = read_page(len(items), page)
        items += batch
        if len(batch) < page:
            return items


def worker_of(run) -> str:
    """The worker that took `run` (Prefect labels the run with it), or "?" before one did."""
    return (run.labels or {}).get("prefect.worker.name", "?") if run else "?"


def run(seeds: int | None, settings: list[str], pool: str | None, prefix: str | None,
        git_remote: str, retries: int, lost_after: float | None,
        root: Path | None = None) -> int:
    root = (root or Path.cwd()).resolve()
    commit = workspace.run("git", "rev-parse", "HEAD", cwd=root).stdout.strip()
    planned = plan(ProjectPaths(root).params.read_text(), seeds, settings, prefix, commit)
    if pool is None:
        return run_here(root, planned)
    try:
        return Coordinator(root, planned, pool, git_remote, retries, lost_after).run()
    except KeyboardInterrupt:
        print("stopped; the sets sent go on on the pool: run the same command again to collect "
              "them and send the rest", file=sys.stderr)
        return 130

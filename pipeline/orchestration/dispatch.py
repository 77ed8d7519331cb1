"""Runs sent to a pool and waited for: `lenet grid --pool` (one run per parameter set) and
`lenet flow --train-pool` (one run per train stage).

What to do next is decided by a pure function, `decide` (each unit's latest run, how often it was
sent, what was collected -> actions), unit-tested for every state; `Dispatch` only does the I/O:
reads the runs from the server, sends, and hands finished runs to a collect callback. Lost runs
are not judged here: the server marks them Crashed (watch.py), and a worker ends a run that
passes its time limit (Failed, named TimedOut). Both are sent again, up to `retries` times;
failed, cancelled and paused runs are reported, never resent (a cancel is the user's).

The state of a dispatch lives on the server (runs tagged with its tag and each unit's name), so
a restarted `lenet grid` counts the sends of the one before it and resumes (a train pool's tag
names its flow run: a new `lenet flow` sends its train stages anew). Of a unit's runs, a
completed one wins over later ones: a run declared lost that finished after all is collected.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.orchestration import sets

POLL_SECONDS = 2.0
PULL_TRIES = 3  # polls on which collecting a finished run may fail before the unit counts as failed
UNIT_TAG = "lenet-set:"
WORKERS_EVERY = 30.0  # seconds between looks for an online worker, until one warning was given
RESENT_STATES = ("CRASHED",)  # and FAILED runs named sets.TIMED_OUT


@dataclass(frozen=True)
class Run:
    """What the coordinator knows of a unit's latest flow run."""

    state: str          # Prefect's state type: SCHEDULED, PENDING, RUNNING, COMPLETED, CRASHED...
    name: str = ""      # the state's name: Crashed, TimedOut, Cancelled...
    message: str = ""
    worker: str = "?"   # the worker that took it


@dataclass(frozen=True)
class Action:
    kind: str           # "send", "collect" or "fail"
    unit: str
    note: str = ""      # why: the reason to resend, or the failure reported


def decide(units: Sequence[str], runs: Mapping[str, Run], sent: Mapping[str, int],
           done: set[str], pull_failures: Mapping[str, int], retries: int) -> list[Action]:
    """The next actions for the units not yet `done` (collected or failed)."""
    actions = []
    for unit in units:
        if unit in done:
            continue
        run, times = runs.get(unit), sent.get(unit, 0)
        if run is None:
            actions.append(Action("send", unit))
        elif run.state == "COMPLETED":
            if pull_failures.get(unit, 0) >= PULL_TRIES:
                actions.append(Action("fail", unit, f"finished on {run.worker}, but collecting "
                                      f"it failed {PULL_TRIES} times"))
            else:
                actions.append(Action("collect", unit))
        elif run.state in RESENT_STATES or (run.state == "FAILED" and run.name == sets.TIMED_OUT):
            if times > retries:
                sends = f"{times} send{'s' if times > 1 else ''}"
                actions.append(Action("fail", unit, f"{run.name} on {run.worker} after {sends}: "
                                                    f"{run.message}"))
            else:
                actions.append(Action("send", unit, f"{run.name} on {run.worker}: {run.message}; "
                                                    "sending it again"))
        elif run.state in ("CANCELLING", "CANCELLED"):
            actions.append(Action("fail", unit, f"cancelled on {run.worker}: {run.message}"))
        elif run.state in ("FAILED", "PAUSED"):
            actions.append(Action("fail", unit, f"{run.name} on {run.worker}: {run.message}"))
    return actions


def progress(label: str, units: Sequence[str], runs: Mapping[str, Run], collected: set[str],
             failed: Mapping[str, str]) -> str:
    """One line: how many are done, which run where, how many wait for a worker."""
    running, queued = [], 0
    for unit in units:
        run = runs.get(unit)
        if unit in collected or unit in failed or run is None:
            continue
        if run.state == "RUNNING":
            running.append(f"{unit} on {run.worker}")
        elif run.state in ("SCHEDULED", "PENDING"):
            queued += 1
    return (f"{label}: {len(collected)}/{len(units)} done, {len(running)} running"
            + (f" ({'; '.join(running)})" if running else "")
            + f", {queued} queued, {len(failed)} failed")


def say(line: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {line}", flush=True)


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


class Dispatch:
    """Send `units` to `pool` as runs of the set flow, wait, collect; returns the failures."""

    def __init__(self, label: str, pool: str, tag: str, units: Sequence[str],
                 parameters: Callable[[str], dict], collect: Callable[[str, object], bool],
                 retries: int, already: set[str] | None = None):
        self.label, self.pool, self.tag, self.units = label, pool, tag, list(units)
        self.parameters, self.collect, self.retries = parameters, collect, retries
        self.collected: set[str] = set(already or ())
        self.failed: dict[str, str] = {}
        self.pull_failures: dict[str, int] = {}
        self.warned_idle = False
        self.workers_read_at = -1e9

    def run(self) -> dict[str, str]:
        from prefect.client.orchestration import get_client

        last = None
        with get_client(sync_client=True) as client:
            while True:
                flow_runs, sent = self.read_runs(client)
                runs = {unit: view(run) for unit, run in flow_runs.items()}
                done = self.collected | set(self.failed)
                for action in decide(self.units, runs, sent, done, self.pull_failures,
                                     self.retries):
                    if action.kind == "send":
                        if action.note:
                            say(f"{action.unit}: {action.note}")
                        self.send(action.unit, sent.get(action.unit, 0))
                    elif action.kind == "collect":
                        if self.collect(action.unit, flow_runs[action.unit]):
                            self.collected.add(action.unit)
                        else:
                            self.pull_failures[action.unit] = \
                                self.pull_failures.get(action.unit, 0) + 1
                    else:
                        self.failed[action.unit] = action.note
                        say(f"{action.unit}: {action.note}")
                line = progress(self.label, self.units, runs, self.collected, self.failed)
                if line != last:  # this poll's: sends show on the next
                    say(line)
                    last = line
                if len(self.collected) + len(self.failed) == len(self.units):
                    return self.failed
                self.warn_if_no_worker(client)
                time.sleep(POLL_SECONDS)

    def read_runs(self, client) -> tuple[dict, dict[str, int]]:
        """Each unit's latest run of this dispatch, and how many times each was sent: from the
        server, so a restarted coordinator counts the sends of the one before it."""
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
        from prefect.client.schemas.sorting import FlowRunSort

        flow_runs = read_all(lambda offset, limit: client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[self.tag])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC, offset=offset, limit=limit))
        return latest_runs(flow_runs)

    def send(self, unit: str, sent: int) -> None:
        """One more run of `unit`; the idempotency key makes a resend after a restart of this
        process the same run, not a second one. Inside a flow, the run is its child."""
        from prefect.deployments import run_deployment

        run_deployment(sets.deployment(self.pool), timeout=0, parameters=self.parameters(unit),
                       flow_run_name=unit if not sent else f"{unit} (send {sent + 1})",
                       tags=[self.tag, f"{UNIT_TAG}{unit}"],
                       idempotency_key=f"{self.tag}:{unit}:{sent}")

    def warn_if_no_worker(self, client) -> None:
        """Say once when runs wait and no worker of the pool is online."""
        if self.warned_idle or time.monotonic() - self.workers_read_at < WORKERS_EVERY:
            return
        self.workers_read_at = time.monotonic()
        workers = read_all(lambda offset, limit: client.read_workers_for_work_pool(
            self.pool, offset=offset, limit=limit))
        if not any(w.status.value == "ONLINE" for w in workers):
            say(f"no worker of pool {self.pool!r} is online: start one (`lenet worker --pool "
                f"{self.pool}`) on a machine that reaches this server; the runs wait for it")
            self.warned_idle = True


def latest_runs(flow_runs: list) -> tuple[dict, dict[str, int]]:
    """Each unit's run to judge it by, and how many times it was sent, from its runs in the
    order they were sent: the latest, unless an earlier one completed (a run declared lost that
    finished after all, while its resend runs: collected, not waited for)."""
    latest, sent = {}, {}
    for run in flow_runs:
        unit = next((t[len(UNIT_TAG):] for t in run.tags if t.startswith(UNIT_TAG)), None)
        if unit not in latest or view(latest[unit]).state != "COMPLETED":
            latest[unit] = run
        sent[unit] = sent.get(unit, 0) + 1
    return latest, sent


def view(run) -> Run:
    """A Prefect flow run as `decide` sees it."""
    state = run.state
    return Run(state.type.value if state else "SCHEDULED", state.name if state else "",
               (state.message or "") if state else "", worker_of(run))

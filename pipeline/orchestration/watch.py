"""Lost runs, found by the Prefect server itself: flow-run heartbeats and two automations.

Every flow run this project starts on a worker (a grid's set, a pool-trained stage) or here (the
pipeline, the audit, the grid's parent run) sends a heartbeat event every HEARTBEAT_SECONDS
(Prefect's PREFECT_FLOWS_HEARTBEAT_FREQUENCY; Prefect's engine allows no less than 30 s). The
server holds two automations, installed by `lenet server start` and again by every deployment of
the set flow, so they exist whoever started the server and work with no coordinator running:

- `lenet: crash runs without heartbeats`: a run whose last heartbeat (or, before its first one
  arrived, its start) is older than `lost_after` seconds (default LOST_AFTER, 3 heartbeats), and
  that reached no final state, is proposed Crashed: Prefect's "detect zombie flows" automation.
  It judges each run by its own heartbeat, so a worker restarted under the same name cannot
  vouch for runs it no longer has.
- `lenet: crash runs stuck in Pending`: a run a worker took (Pending) that did not start running
  within `pending_after` seconds (its worker died between the two) is proposed Crashed.

Both *propose* the state (force=False): the server's orchestration rules refuse Crashed over a
run that completed meanwhile, so a run that finishes while being declared lost stays Completed.
Crashed runs are sent again by whoever waits for them (`lenet grid`, `lenet flow --train-pool`),
within their retry limit: Prefect does not resend a crashed deployment run by itself.
"""

from __future__ import annotations

import datetime

HEARTBEAT_SECONDS = 30  # Prefect's minimum: flow_engine.MINIMUM_HEARTBEAT_INTERVAL
LOST_AFTER = 90         # seconds without a heartbeat before a run is lost
PENDING_AFTER = 120     # seconds a run may stay Pending (taken by a worker, not yet running)
HEARTBEAT_ENV = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"
LOST = "lenet: crash runs without heartbeats"
STUCK = "lenet: crash runs stuck in Pending"
MIN_LOST_AFTER = HEARTBEAT_SECONDS + 15  # a heartbeat late by 15 s is not a lost run
# Ends of waiting: final states, and states a user chose (a cancel, a pause) that a crash must not
# overwrite.
FINAL_EVENTS = {f"prefect.flow-run.{state}" for state in
                ("Completed", "Failed", "Cancelled", "Crashed", "TimedOut", "Cancelling",
                 "Paused", "Suspended")}
# Only this project's flows (lenet-set, lenet-grid, lenet-pipeline, lenet-audit): they send
# heartbeats every HEARTBEAT_SECONDS. Other flows on a shared server keep Prefect's 180 s.
PROJECT_FLOWS = "lenet-*"


def heartbeat_env() -> dict[str, str]:
    """The environment that makes a flow run send heartbeats."""
    return {HEARTBEAT_ENV: str(HEARTBEAT_SECONDS)}


def automations(lost_after: float = LOST_AFTER, pending_after: float = PENDING_AFTER) -> list:
    """The two automations (Prefect objects, not yet on a server)."""
    from prefect.automations import AutomationCore
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    def crash(message: str) -> ChangeFlowRunState:
        return ChangeFlowRunState(state=StateType.CRASHED, name="Crashed", message=message,
                                  force=False)

    def absent(after: set[str], expect: set[str], seconds: float) -> EventTrigger:
        return EventTrigger(
            after=after, expect=expect, posture=Posture.Proactive, threshold=1,
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification({"prefect.resource.role": "flow",
                                                 "prefect.resource.name": PROJECT_FLOWS}),
            for_each={"prefect.resource.id"}, within=datetime.timedelta(seconds=seconds))

    return [
        AutomationCore(
            name=LOST,
            description=f"No heartbeat for {lost_after:.0f} s: the run's process or machine is "
                        "gone (installed by `lenet server start` and the set flow's deployment)",
            # From Running too: a run killed before its first heartbeat reached the server.
            trigger=absent({"prefect.flow-run.heartbeat", "prefect.flow-run.Running"},
                           {"prefect.flow-run.heartbeat", *FINAL_EVENTS}, lost_after),
            actions=[crash(f"no heartbeat for {lost_after:.0f} s: its worker or machine "
                           "stopped; a grid or train pool sends it again")]),
        AutomationCore(
            name=STUCK,
            description=f"Pending for {pending_after:.0f} s without starting: the worker that "
                        "took it is gone (installed by `lenet server start` and the set flow's "
                        "deployment)",
            trigger=absent({"prefect.flow-run.Pending"},
                           {"prefect.flow-run.Running", "prefect.flow-run.Scheduled",
                            *FINAL_EVENTS}, pending_after),
            actions=[crash(f"taken by a worker but not started within {pending_after:.0f} s: "
                           "the worker stopped; a grid or train pool sends it again")]),
    ]


def install(client, lost_after: float | None = None,
            pending_after: float = PENDING_AFTER) -> None:
    """Create the automations on the server `client` talks to where missing (with LOST_AFTER
    unless `lost_after` is given), and with `lost_after` given, update them to it: idempotent,
    one of each whatever ran it before. Without `lost_after`, an existing setting is kept."""
    for wanted in automations(lost_after or LOST_AFTER, pending_after):
        existing = client.read_automations_by_name(wanted.name)
        for extra in existing[1:]:
            client.delete_automation(extra.id)
        if not existing:
            client.create_automation(wanted)
        elif lost_after is not None and not same(existing[0], wanted):
            client.update_automation(existing[0].id, wanted)


def same(existing, wanted) -> bool:
    """Does the automation on the server already say what `wanted` says?"""
    fields = ("trigger", "actions", "enabled", "description")
    return all(_plain(getattr(existing, f)) == _plain(getattr(wanted, f)) for f in fields)


def _plain(value):
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value.model_dump(mode="json", exclude={"id"}) if hasattr(value, "model_dump") else value

"""Prefect deployments of the flows: a worker's pool and train deployment, and the scheduled audit.

    lenet serve [--cron "0 3 * * *" | --interval S] [--notify URL] [--train-pool gpu]
    lenet worker [--pool gpu]

`serve` schedules the audit (the pipeline, then `verify`); with --notify, every failed or crashed
audit run is posted to that webhook (saved as a Prefect block, used by the flow's failure hook).
Stopping and restarting it keeps one deployment with its schedule active; runs that fell due
while nothing served run late, one after another, when it is back.

Imports pipeline.orchestration.flows and .server; imported by pipeline.cli only.
"""

from __future__ import annotations

import os
import sys

from pipeline.orchestration.flows import NOTIFY_BLOCK, TRAIN_DEPLOYMENT, lenet_audit, train_stage
from pipeline.orchestration.server import ROOT


def ensure_pool(pool: str) -> None:
    """Create a process work pool from the locally installed worker's template.

    (`prefect work-pool create` would ask the server, which asks GitHub, for worker metadata.)
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(
                name=pool, type=ProcessWorker.type,
                base_job_template=ProcessWorker.get_default_base_job_template(),
            ))
        except ObjectAlreadyExists:
            pass


def deploy_train_flow(pool: str) -> str:
    """Register the train-only flow from *this* checkout on `pool`; returns the deployment name."""
    ensure_pool(pool)
    source = train_stage.from_source(source=str(ROOT), entrypoint="pipeline/orchestration/flows.py:train_stage")
    name = TRAIN_DEPLOYMENT.format(pool=pool)
    source.deploy(name=name, work_pool_name=pool, print_next_steps=False, ignore_warnings=True)
    return name


def work(pool: str) -> None:
    """Deploy the train flow from this checkout, then become a process worker on `pool`."""
    deploy_train_flow(pool)
    os.execvp(sys.executable, [sys.executable, "-m", "prefect", "worker", "start",
                               "--pool", pool, "--type", "process"])


def serve_audit(name: str, cron: str | None, interval: float | None, train_pool: str | None,
                notify: str | None) -> None:
    """Serve the audit flow on a schedule (blocks). Re-serving updates the same deployment."""
    from prefect import serve

    deployment = lenet_audit.to_deployment(
        name=name, cron=None if interval else cron, interval=interval, paused=False,
        parameters={"train_pool": train_pool},
    )
    if notify:
        save_webhook(notify)
    # One run at a time (they share this checkout), and a stop leaves the schedule active.
    serve(deployment, pause_on_shutdown=False, limit=1)


def save_webhook(url: str) -> None:
    """The webhook block that the audit flow's failure hook posts to (flows.notify_failure)."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    CustomWebhookNotificationBlock(
        name=NOTIFY_BLOCK, url=url, json_data={"subject": "{{subject}}", "text": "{{body}}"},
        allow_private_urls=True,  # the receiver may be on this machine or the local network
    ).save(NOTIFY_BLOCK, overwrite=True)

"""Prefect deployments: a pool's worker, and the scheduled audit.

    lenet worker --pool NAME [--limit K] [--name NAME]
    lenet serve [--cron "0 3 * * *" | --interval S] [--notify URL] [--train-pool gpu]

`worker` makes this machine serve a pool: it registers the set flow on the pool (by module path,
the same deployment from any machine) and becomes a Prefect process worker, running up to K
sets at once, each in its own fresh checkout (orchestration/sets.py). It needs this package
installed, the Prefect server's URL, and credentials for the git and DVC remotes.

`serve` schedules the audit (the pipeline, then `verify`); with --notify, every failed or crashed
audit run is posted to that webhook (saved as a Prefect block, used by the flow's failure hook).
Stopping and restarting it keeps one deployment with its schedule active; runs that fell due
while nothing served run late, one after another, when it is back.
"""

from __future__ import annotations

import os
import socket
import sys

from pipeline.orchestration.flows import NOTIFY_BLOCK, lenet_audit
from pipeline.orchestration.sets import clean_stale_checkouts, deploy_set_flow


def work(pool: str, limit: int | None, name: str | None) -> None:
    """Register the set flow on `pool`, then become a process worker on it (never returns)."""
    for folder in clean_stale_checkouts():
        print(f"removed {folder}: its worker's run ended without cleaning up", flush=True)
    deploy_set_flow(pool)
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool,
               "--type", "process", "--name", name]
    if limit:
        command += ["--limit", str(limit)]
    print(f"worker {name} serving pool {pool!r}" + (f", {limit} runs at a time" if limit else ""),
          flush=True)
    os.execvp(sys.executable, command)


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

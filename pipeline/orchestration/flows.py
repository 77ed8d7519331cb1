"""The DVC DAG as a Prefect flow: each stage in dvc.yaml is one Prefect task, run through DVC.

Nothing here redefines the pipeline. The stage list and its order come from DVC's own graph, and
every task runs `dvc repro --single-item <stage>`, so caching and dvc.lock behave exactly as with
`dvc repro`. Prefect adds schedules, retries, logs, a UI and remote workers.

The scheduled deployment is `lenet-audit`: the pipeline, then `verify` for each dataset (retrain
the committed params.yaml in a scratch checkout, compare the bytes). A nightly rerun of an
unchanged pipeline is otherwise a no-op; the audit fails, naming the dataset and the first number
that differs, when the committed results no longer reproduce.

Training can go to another machine: with a train pool, each train stage becomes a run of the
`lenet-set/set-<pool>` deployment (orchestration/sets.py: a fresh checkout of this commit on
whichever worker is free), watched like a grid's set (dispatch.py: sent again when its worker is
lost or its time limit passes). Artifacts travel through the DVC remote's run cache: the main flow
pushes, the worker pulls, trains and pushes, and the main flow's own `dvc repro` of the train
stage then restores the worker's outputs (and records them in dvc.lock) instead of training.

The project is the current directory (where `lenet flow` runs), never this file's checkout.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.tasks import exponential_backoff

from pipeline.core import dag, runlock, workspace
from pipeline.core.config import load_params
from pipeline.core.errors import PipelineError
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.orchestration import dispatch, sets

AUDIT_FLOW = "lenet-audit"
NOTIFY_BLOCK = "lenet-audit-failures"


def project() -> ProjectPaths:
    """The project this flow runs in: the current directory."""
    return ProjectPaths(Path.cwd().resolve())


class StageFailed(PipelineError):
    """A DVC stage (or a DVC command around it) exited non-zero."""


def dvc(*args: str, stage: str) -> str:
    try:
        return workspace.run("dvc", *args, cwd=project().root).stdout
    except workspace.CommandFailed as failure:
        raise StageFailed(f"stage {stage} failed: {failure}") from None


@task(task_run_name="{stage}")
def run_stage(stage: str) -> str:
    output = dvc("repro", "--single-item", stage, stage=stage)
    get_run_logger().info(output.strip() or f"{stage}: nothing to do")
    return output


# Downloads talk to the network: retry them with backoff on top of the stage's own mirror retries.
run_download = run_stage.with_options(
    retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=5)
)


@task(task_run_name="{stage} on pool {pool}")
def run_stage_on_pool(
    stage: str, pool: str, time_limit: float | None = None, retries: int = 2
) -> dict:
    """Send one train stage to the worker pool and bring its outputs back through the remote.
    A run lost with its worker (Crashed by the server, watch.py) or past `time_limit` is sent
    again, up to `retries` times, as a grid's sets are (dispatch.py)."""
    from prefect.runtime import flow_run

    log = get_run_logger()
    here = project()
    try:
        origin = sets.origin_of(here.root)
    except sets.SetFailed as error:
        raise StageFailed(f"stage {stage} cannot go to pool {pool}: {error}") from None
    dvc("push", "--run-cache", stage=stage)
    sets.deploy_set_flow(pool)
    # The train stage writes reports/runtime/<dataset>/train.json itself whenever it trains (it is
    # not an output, so a restore from the run cache leaves it alone): rewritten here means trained.
    facts = DatasetPaths(stage.partition("@")[2], here.root).runtime / "train.json"
    done: dict[str, str] = {}

    def restore(unit: str, run) -> bool:
        before = facts.stat().st_mtime_ns if facts.exists() else None
        dvc("repro", "--pull", "--single-item", stage, stage=stage)
        if facts.exists() and facts.stat().st_mtime_ns != before:
            raise StageFailed(
                f"stage {stage}: the worker's outputs did not match this "
                "workspace (different code or data?), so it was trained here again"
            )
        done["run"] = run.name
        return True

    job = dispatch.Dispatch(
        f"{stage} on pool {pool}",
        pool,
        f"lenet-train:{flow_run.id}",
        [stage],
        lambda unit: {
            **origin.parameters(),
            "stages": [unit],
            "time_limit": time_limit or sets.TIME_LIMIT,
        },
        restore,
        retries,
    )
    failed = job.run()
    if failed:
        raise StageFailed(f"stage {stage} failed on pool {pool}: {failed[stage]}")
    log.info(
        "%s trained by flow run %s on pool %s; outputs restored from the DVC remote",
        stage,
        done["run"],
        pool,
    )
    return {"flow_run_name": done["run"]}


def metrics_table(paths: ProjectPaths) -> str:
    rows = ["| dataset | test accuracy | test loss | errors |", "|---|---|---|---|"]
    for name in load_params(paths.params).datasets:
        test = json.loads(DatasetPaths(name, paths.root).metrics.read_text())["test"]
        rows.append(f"| {name} | {test['accuracy']:.4f} | {test['loss']:.4f} | {test['errors']} |")
    return "\n".join(rows)


@flow(name="lenet-pipeline", log_prints=True)
def lenet_pipeline(
    train_pool: str | None = None, time_limit: float | None = None, retries: int = 2
) -> list[str]:
    """Every stage of dvc.yaml in dependency order; train stages on `train_pool` when given,
    each within `time_limit` seconds and sent again up to `retries` times."""
    here = project()
    runlock.claim(here.run_lock)  # before any stage: a flow never runs beside another run
    done = []
    for stage in dag.stages_in_order(here):
        if stage.startswith("train@") and train_pool:
            run_stage_on_pool(stage, train_pool, time_limit, retries)
        elif stage.startswith("download@"):
            run_download(stage)
        else:
            run_stage(stage)
        done.append(stage)
    create_markdown_artifact(
        key="lenet-metrics",
        markdown="# LeNet-5 test metrics\n\n" + metrics_table(here),
        description="metrics/<dataset>.json after this run",
    )
    return done


@task(task_run_name="verify@{dataset}")
def verify_dataset(dataset: str) -> str:
    """Retrain `dataset` from the committed params.yaml and compare with the committed bytes."""
    from pipeline.tools import verify

    (verdict,) = verify.run([dataset], root=project().root)
    get_run_logger().info(verdict.line())
    if not verdict.passed:
        raise StageFailed(
            f"verify@{dataset}: {dataset} does not reproduce the committed results: "
            + "; ".join(verdict.differences[:3])
        )
    return verdict.line()


def notify_failure(flow, flow_run, state) -> None:
    """State hook of the audit: post the failed or crashed run to the webhook that
    `lenet serve --notify URL` saved, if any.

    A hook rather than a server-side automation: Prefect 3.8 holds the events of auto-scheduled
    runs for 15 minutes (their first state change follows a Scheduled state that emitted no
    event), so an automation on them fired a quarter of an hour late.
    """
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    try:
        webhook = CustomWebhookNotificationBlock.load(NOTIFY_BLOCK)
    except ValueError:  # no webhook configured
        return
    webhook.notify(
        subject=f"LeNet audit {flow_run.name}: {state.name}",
        body=f"LeNet audit run {flow_run.name} ended {state.name}: {state.message}",
    )


@flow(name=AUDIT_FLOW, log_prints=True, on_failure=[notify_failure], on_crashed=[notify_failure])
def lenet_audit(
    train_pool: str | None = None, time_limit: float | None = None, retries: int = 2
) -> list[str]:
    """The pipeline, then verify for every dataset: what the schedule runs."""
    lenet_pipeline(train_pool=train_pool, time_limit=time_limit, retries=retries)
    return [verify_dataset(name) for name in load_params(project().params).datasets]

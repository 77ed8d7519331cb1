"""The DVC DAG as a Prefect flow: each stage in dvc.yaml is one Prefect task, run through DVC.

Nothing here redefines the pipeline. The stage list and its order come from DVC's own graph, and
every task runs `dvc repro --single-item <stage>`, so caching and dvc.lock behave exactly as with
`dvc repro`. Prefect adds schedules, retries, logs, a UI and remote workers.

The scheduled deployment is `lenet-audit`: the pipeline, then `verify` for each dataset (retrain
the committed params.yaml in a scratch checkout, compare the bytes). A nightly rerun of an
unchanged pipeline is otherwise a no-op; the audit fails, naming the dataset and the first number
that differs, when the committed results no longer reproduce.

Training can go to another machine: with a train pool, each train stage becomes a run of the
`lenet-train` deployment on that pool. Artifacts travel through the DVC remote's run cache: the
main flow pushes, the worker pulls, trains and pushes, and the main flow's own `dvc repro` of the
train stage then restores the worker's outputs (and records them in dvc.lock) instead of training.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.deployments import run_deployment
from prefect.tasks import exponential_backoff

from pipeline.core import code, dag, runlock, workspace
from pipeline.core.config import load_params
from pipeline.core.errors import PipelineError
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.orchestration.server import process_tag

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ProjectPaths(ROOT)
TRAIN_FLOW = "lenet-train"
AUDIT_FLOW = "lenet-audit"
NOTIFY_BLOCK = "lenet-audit-failures"
TRAIN_DEPLOYMENT = "train-{pool}"


class StageFailed(PipelineError):
    """A DVC stage (or a DVC command around it) exited non-zero."""


def dvc(*args: str, stage: str) -> str:
    try:
        return workspace.run("dvc", *args, cwd=ROOT).stdout
    except workspace.CommandFailed as failure:
        raise StageFailed(f"stage {stage} failed: {failure}") from None


@task(task_run_name="{stage}")
def run_stage(stage: str) -> str:
    output = dvc("repro", "--single-item", stage, stage=stage)
    get_run_logger().info(output.strip() or f"{stage}: nothing to do")
    return output


# Downloads talk to the network: retry them with backoff on top of the stage's own mirror retries.
run_download = run_stage.with_options(retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=5))


def code_fingerprint(project: ProjectPaths = PROJECT) -> str:
    """The identity of dvc.yaml and the whole pipeline package: the worker must run exactly this code."""
    return code.digest([project.dvc_yaml, *code.package_sources(project)], project.root)


@task(task_run_name="{stage} on pool {pool}")
def run_stage_on_pool(stage: str, pool: str) -> dict:
    """Send one train stage to the worker pool and bring its outputs back through the remote."""
    log = get_run_logger()
    dvc("push", "--run-cache", stage=stage)
    flow_run = run_deployment(
        f"{TRAIN_FLOW}/{TRAIN_DEPLOYMENT.format(pool=pool)}",
        parameters={
            "stage": stage,
            "params_yaml": PROJECT.params.read_text(),
            "code": code_fingerprint(),
        },
        timeout=None,
    )
    if not flow_run.state.is_completed():
        raise StageFailed(f"stage {stage} failed on pool {pool}: flow run {flow_run.name} "
                          f"ended {flow_run.state.name}: {flow_run.state.message}")
    # The train stage writes reports/runtime/<dataset>/train.json itself whenever it trains (it is
    # not an output, so a restore from the run cache leaves it alone): rewritten here means trained.
    facts = DatasetPaths(stage.partition("@")[2], PROJECT.root).runtime / "train.json"
    before = facts.stat().st_mtime_ns if facts.exists() else None
    dvc("repro", "--pull", "--single-item", stage, stage=stage)
    if facts.exists() and facts.stat().st_mtime_ns != before:
        raise StageFailed(f"stage {stage}: the worker's outputs did not match this workspace "
                          "(different code or data?), so it was trained here again")
    log.info("%s trained by flow run %s on pool %s; outputs restored from the DVC remote",
             stage, flow_run.name, pool)
    return {"flow_run_id": str(flow_run.id), "flow_run_name": flow_run.name}


def metrics_table(project: ProjectPaths = PROJECT) -> str:
    rows = ["| dataset | test accuracy | test loss | errors |", "|---|---|---|---|"]
    for name in load_params(project.params).datasets:
        test = json.loads(DatasetPaths(name, project.root).metrics.read_text())["test"]
        rows.append(f"| {name} | {test['accuracy']:.4f} | {test['loss']:.4f} | {test['errors']} |")
    return "\n".join(rows)


def record_process() -> None:
    """Name this process on the flow run, as Prefect's runners do, so that a run whose process
    ends while the server is away can be told from one still going (server.connect)."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, infrastructure_pid=process_tag())


@flow(name="lenet-pipeline", log_prints=True)
def lenet_pipeline(train_pool: str | None = None) -> list[str]:
    """Every stage of dvc.yaml in dependency order; train stages on `train_pool` when given."""
    record_process()
    runlock.claim(PROJECT.run_lock)  # before any stage: a flow never runs beside another run
    done = []
    for stage in dag.stages_in_order(PROJECT):
        if stage.startswith("train@") and train_pool:
            run_stage_on_pool(stage, train_pool)
        elif stage.startswith("download@"):
            run_download(stage)
        else:
            run_stage(stage)
        done.append(stage)
    create_markdown_artifact(
        key="lenet-metrics", markdown="# LeNet-5 test metrics\n\n" + metrics_table(),
        description="metrics/<dataset>.json after this run",
    )
    return done


@task(task_run_name="verify@{dataset}")
def verify_dataset(dataset: str) -> str:
    """Retrain `dataset` from the committed params.yaml and compare with the committed bytes."""
    from pipeline.tools import verify

    (verdict,) = verify.run([dataset], root=ROOT)
    get_run_logger().info(verdict.line())
    if not verdict.passed:
        raise StageFailed(f"verify@{dataset}: {dataset} does not reproduce the committed results: "
                          + "; ".join(verdict.differences[:3]))
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
    webhook.notify(subject=f"LeNet audit {flow_run.name}: {state.name}",
                   body=f"LeNet audit run {flow_run.name} ended {state.name}: {state.message}")


@flow(name=AUDIT_FLOW, log_prints=True, on_failure=[notify_failure], on_crashed=[notify_failure])
def lenet_audit(train_pool: str | None = None) -> list[str]:
    """The pipeline, then verify for every dataset: what the schedule runs."""
    record_process()
    lenet_pipeline(train_pool=train_pool)
    return [verify_dataset(name) for name in load_params(PROJECT.params).datasets]


@flow(name=TRAIN_FLOW, log_prints=True)
def train_stage(stage: str, params_yaml: str, code: str) -> dict:
    """Runs on the worker, in the worker's own checkout: pull inputs, train, push the model.

    params.yaml comes with the request; the code must already match (same fingerprint).
    """
    from pipeline.core.files import write_text
    from pipeline.runtime import machine

    if code_fingerprint() != code:
        raise StageFailed(f"stage {stage}: the worker's checkout {ROOT} has different pipeline code "
                          "than the flow that sent it; update the worker's checkout (git pull)")
    write_text(PROJECT.params, params_yaml)
    # --pull: upstream stages come back from the remote's run cache instead of running again.
    output = dvc("repro", "--pull", stage, stage=stage)
    dvc("push", "--run-cache", stage, stage=stage)
    print(output)
    return {"stage": stage, "device": machine.device(), "checkout": str(ROOT)}

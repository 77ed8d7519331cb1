"""Work sent to a pool: one parameter set (or some stages) of one commit, computed on whichever
worker of the pool is free.

The coordinator (`lenet grid`, or `lenet flow --train-pool`) describes the work as an Origin: the
git remote's URL, the exact commit, its params.yaml text and its DVC remote (URL and endpoint;
never credentials, not even those written into a URL). The worker's flow, `compute_set`:

1. clones the commit into a fresh folder (never a shared working tree; removed afterwards, and by
   the next `lenet worker` on the machine if its process was killed: LENET_WORKER_CHECKOUTS,
   default <temp>/lenet-sets), with the worker's own DVC cache (LENET_WORKER_CACHE, default
   ~/.cache/lenet/dvc-cache);
2. refuses, in one line, a commit whose code this worker would not run as written: the set flow's
   own files (SET_CODE) differ from the worker's installed package, or the commit's dependency
   pins (pyproject.toml) differ from what the worker was installed with. The stages themselves
   always run the commit's code: dvc.yaml runs `python -m pipeline.stages` in the checkout;
3. writes params.yaml and points DVC at the same remote, credentials from the worker's
   environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or its DVC global config;
4. runs `dvc exp run --pull -n NAME -S ...` (a grid's set) or `dvc repro --pull STAGES` (a train
   stage), pulling what is unchanged from the remote instead of computing it again. It and the
   push must end within `time_limit` seconds of the run's start (the clone and the git push of
   the experiment's ref are not counted): past it, the command and every process under it are
   ended and the run ends Failed, named TimedOut (sent again by the coordinator within its
   retries);
5. pushes: the outputs and run cache first (`dvc push --run-cache`), then the experiment's git ref
   (`dvc exp push`, never forced). A ref already there means another run of the same set (one
   declared lost that finished after all) pushed it first: this duplicate is dropped, the first
   result stands.

Every worker registers the same deployment, `lenet-set/set-<pool>`, by module path: it names
no folder of any machine, so workers on many machines serve one pool. Its runs send heartbeats
(watch.py), so the server marks a run Crashed when its worker or machine stops.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
from prefect import flow, get_run_logger

from pipeline.core import workspace
from pipeline.core.errors import PipelineError
from pipeline.core.files import write_text
from pipeline.core.paths import ProjectPaths
from pipeline.orchestration import server, watch

SET_FLOW = "lenet-set"
SECONDS_LABEL = "lenet.seconds."
PHASES = ("checkout", "compute", "push")  # what a set's wall time on its worker is made of
WORKER_CACHE = "LENET_WORKER_CACHE"
WORKER_CHECKOUTS = "LENET_WORKER_CHECKOUTS"
# A remote's settings that locate it; anything else (keys, passwords, tokens) stays on each machine.
REMOTE_LOCATION = ("url", "endpointurl", "region", "use_ssl", "ssl_verify", "listobjects")
# The checkout the worker's package was installed from (`make install`): its `lenet assets`.
INSTALLED = Path(__file__).resolve().parents[2]
DISTRIBUTION = "lenet-pipeline"
# The files a worker runs from its installed package rather than from the commit: compute_set
# and what it calls before the commit's own `dvc` commands take over.
SET_CODE = ("pipeline/orchestration/sets.py", "pipeline/orchestration/watch.py",
            "pipeline/core/workspace.py", "pipeline/core/code.py")
TIME_LIMIT = 4 * 3600  # seconds a set or a pool-trained stage may take on its worker
TIMED_OUT = "TimedOut"  # the name of a run's Failed state when its time limit ended it


class SetFailed(PipelineError):
    """A set could not be described, checked out, computed or pushed."""


class SetTimedOut(PipelineError):
    """A set's command ran past the set's time limit (and was ended)."""


def deployment(pool: str) -> str:
    """The deployment every worker of `pool` serves: `flow name/deployment name`."""
    return f"{SET_FLOW}/set-{pool}"


@dataclass(frozen=True)
class Origin:
    """What a worker needs to reproduce the coordinator's workspace: where and what."""

    repo: str         # the git remote's URL
    commit: str       # the exact commit (pushed there)
    params_yaml: str  # the coordinator's params.yaml (may differ from the commit's)
    remote: dict      # the DVC remote's name and location, no credentials

    def parameters(self) -> dict:
        return asdict(self)


def git(*args: str, cwd: Path) -> str:
    return workspace.run("git", *args, cwd=cwd).stdout.strip()


def origin_of(root: Path, git_remote: str = "origin") -> Origin:
    """The coordinator's side, checked: HEAD is on the git remote, the code that stages run is
    committed (the worker runs the commit's code), a DVC remote is set."""
    from dvc.repo import Repo

    try:
        url = git("remote", "get-url", git_remote, cwd=root)
    except workspace.CommandFailed:
        raise SetFailed(f"no git remote {git_remote!r} in {root}: workers clone the commit from "
                        f"it (git remote add {git_remote} URL)") from None
    url = without_credentials(url)
    commit = git("rev-parse", "HEAD", cwd=root)
    workspace.run("git", "fetch", "--quiet", git_remote, cwd=root)
    if not git("branch", "--remotes", "--contains", commit, cwd=root):
        raise SetFailed(f"commit {commit[:12]} is not on git remote {git_remote!r} ({url}): "
                        "workers check out exactly this commit; `git push` it first")
    with Repo(str(root)) as repo:
        changed = git("status", "--porcelain", "--", *stage_inputs(repo), cwd=root)
        if changed:
            raise SetFailed("uncommitted changes to what the stages read, which workers would "
                            f"not have (commit and push them):\n{changed}")
        config = repo.config
        name = config["core"].get("remote")
        if not name:
            raise SetFailed("no default DVC remote: workers share results through one "
                            "(`dvc remote add -d shared s3://bucket/path`, see docs/operations.md)")
        settings = config["remote"][name]
    located = {key: str(settings[key]) for key in REMOTE_LOCATION if key in settings}
    remote = {"name": name, **located}
    remote["url"] = without_credentials(remote["url"])
    return Origin(url, commit, ProjectPaths(root).params.read_text(), remote)


def stage_inputs(repo) -> list[str]:
    """Every file a stage of any dvc.yaml reads that no stage writes (its code, validation
    references, pins), and the dvc.yaml files themselves: what a worker takes from the commit.
    params.yaml is not among them: the coordinator sends its own."""
    root = Path(repo.root_dir)
    stages = list(repo.index.stages)
    written = [Path(out.fs_path) for stage in stages for out in stage.outs]
    paths = {Path(stage.path).relative_to(root).as_posix() for stage in stages}
    for stage in stages:
        for dep in stage.deps:
            path = Path(dep.fs_path)
            if hasattr(dep, "params") or not path.is_relative_to(root):
                continue
            if not any(
                path == out or path.is_relative_to(out) or out.is_relative_to(path)
                for out in written
            ):
                paths.add(path.relative_to(root).as_posix())
    return sorted(paths - {"params.yaml"})


def without_credentials(url: str) -> str:
    """`url` without a user name or password in it (https://user:token@host/...): flow-run
    parameters are readable by every user of the Prefect server. Workers use their own git and
    storage credentials (an SSH key, a credential helper, AWS_* variables)."""
    parts = urlsplit(url)
    if not (parts.username or parts.password):
        return url
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    print(
        f"warning: credentials in {parts.scheme}://{host}{parts.path} are not sent to workers; "
        "give each worker its own",
        file=sys.stderr,
    )
    return urlunsplit(parts._replace(netloc=host))


def checkouts() -> Path:
    """Where this machine's workers make their checkouts: LENET_WORKER_CHECKOUTS, default
    <temp>/lenet-sets. Each is named after the process that made it (clean_stale_checkouts)."""
    return Path(os.environ.get(WORKER_CHECKOUTS) or Path(tempfile.gettempdir()) / "lenet-sets")


def clean_stale_checkouts() -> list[Path]:
    """Remove the checkouts whose process has ended (a killed worker's or a switched-off
    machine's); run when a worker starts. Returns those removed."""
    removed = []
    for folder in checkouts().glob("set-*-*"):
        pid = folder.name.split("-")[1]
        if pid.isdigit() and server.ended(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def fresh_checkout(origin: Origin) -> Iterator[Path]:
    """A clone of origin.commit in a new temporary folder, set up to share the DVC remote and
    this worker's DVC cache; removed afterwards, whatever happened inside."""
    checkouts().mkdir(parents=True, exist_ok=True)
    parent = Path(tempfile.mkdtemp(prefix=f"set-{os.getpid()}-", dir=checkouts()))
    clone = parent / "checkout"
    try:
        workspace.run("git", "clone", "--quiet", "--no-checkout", origin.repo, str(clone))
        if workspace.run(
            "git", "checkout", "--quiet", "--detach", origin.commit, cwd=clone, check=False
        ).returncode:
            raise SetFailed(f"commit {origin.commit[:12]} is not in {origin.repo}: push it first")
        cache = Path(os.environ.get(WORKER_CACHE) or Path.home() / ".cache/lenet/dvc-cache")
        cache = cache.expanduser().resolve()  # one folder for mkdir here and for DVC in the clone
        cache.mkdir(parents=True, exist_ok=True)
        share_cache_and_remote(clone, cache, origin.remote)
        workspace.share_web_assets(INSTALLED, clone)
        write_text(ProjectPaths(clone).params, origin.params_yaml)
        yield clone
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def share_cache_and_remote(clone: Path, cache: Path, remote: dict) -> None:
    """Write into the clone's .dvc/config.local what `dvc cache dir --local CACHE`, `dvc remote
    add --local --force --default NAME URL` and `dvc remote modify --local NAME KEY VALUE` would,
    through the configuration API those commands use: in this process, instead of starting three
    or more `dvc` processes."""
    from dvc.config import Config

    settings = dict(remote)
    name = settings.pop("name").lower()  # as `dvc remote` stores names
    with Config(dvc_dir=str(clone / ".dvc")).edit("local") as local:
        local["cache"]["dir"] = str(cache)
        local["core"]["remote"] = name
        local["remote"][name] = settings


def worker_name() -> str:
    """The Prefect worker running this flow (it sets PREFECT__WORKER_NAME), else this host."""
    return os.environ.get("PREFECT__WORKER_NAME") or socket.gethostname()


def check_code(clone: Path, commit: str) -> None:
    """Refuse, in one line, a commit this worker would not run as written (see the module)."""
    mine, theirs = ProjectPaths(INSTALLED), ProjectPaths(clone)
    for name in SET_CODE:
        ours, its = mine.root / name, theirs.root / name
        if its.exists() and (not ours.exists() or ours.read_bytes() != its.read_bytes()):
            raise SetFailed(
                f"worker {worker_name()} runs another version of {name} than commit "
                f"{commit[:12]}: update its package (git pull && make install in "
                f"{INSTALLED}) and restart it"
            )
    pyproject = clone / "pyproject.toml"
    if not pyproject.exists():
        return
    wanted = pins(tomllib.loads(pyproject.read_text())["project"].get("dependencies", []))
    installed = pins(installed_pins())
    changed = sorted(
        name for name in wanted.keys() | installed.keys() if wanted.get(name) != installed.get(name)
    )
    if changed:
        differences = "; ".join(
            f"{wanted.get(name, f'no {name}')} where this worker has "
            f"{installed.get(name, f'no {name}')}"
            for name in changed[:3]
        )
        raise SetFailed(
            f"worker {worker_name()} was installed with other dependency pins than "
            f"commit {commit[:12]} declares ({differences}): reinstall it from that "
            "commit (make install) and restart it"
        )


def pins(requirements: list[str]) -> dict[str, str]:
    """{package: its requirement, normalised} (a package's metadata writes `b<2,>=1` for the
    pyproject's `b>=1,<2`)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    normal = {}
    for text in requirements:
        requirement = Requirement(text)
        requirement.name = canonicalize_name(requirement.name)
        normal[requirement.name] = str(requirement)
    return normal


def installed_pins() -> list[str]:
    """The dependencies this worker's package was installed with (its own, no extras)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        return [r for r in requires(DISTRIBUTION) or [] if "extra ==" not in r]
    except PackageNotFoundError:
        return []


def run_limited(command: list[str], cwd: Path, deadline: float) -> str:
    """Run `command`; past `deadline` (time.monotonic()) end it and every process under it (a
    stopped or hung stage included) and raise SetTimedOut. It stays in this flow run's process
    group, so whatever ends the run (a cancel, a killed worker) ends it too. Returns its output."""
    process = subprocess.Popen(command, cwd=cwd, env=workspace.environment(), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = process.communicate(timeout=max(deadline - time.monotonic(), 0))
    except subprocess.TimeoutExpired:
        end_tree(process)
        raise SetTimedOut(f"`{' '.join(command)}` ran past the set's time limit; ended") from None
    except BaseException:  # the flow itself cancelled or interrupted: take the command along
        end_tree(process)
        raise
    if process.returncode:
        raise workspace.CommandFailed(
            f"`{' '.join(command)}` exited {process.returncode} in {cwd}:\n{output[-2000:]}")
    return output


def end_tree(process: subprocess.Popen) -> None:
    """SIGKILL `process` and every process under it (a SIGSTOPped one included)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        tree = psutil.Process(process.pid).children(recursive=True)
        for each in [*tree, psutil.Process(process.pid)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                each.kill()
    process.communicate()


@flow(name=SET_FLOW, log_prints=True)
def compute_set(
    repo: str,
    commit: str,
    params_yaml: str,
    remote: dict,
    experiment: str | None = None,
    overrides: list[str] | None = None,
    stages: list[str] | None = None,
    time_limit: float | None = TIME_LIMIT,
):
    """On a worker: compute one set (an experiment named `experiment`, params.yaml with
    `overrides`) or `stages`, in a fresh checkout of `commit`, within `time_limit` seconds;
    push the results."""
    from prefect.states import Failed

    log = get_run_logger()
    origin = Origin(repo, commit, params_yaml, remote)
    seconds = {}
    start = time.monotonic()
    limit = time_limit or TIME_LIMIT
    deadline = start + limit
    what = experiment or " ".join(stages or ["the pipeline"])
    with fresh_checkout(origin) as clone:
        check_code(clone, commit)
        seconds["checkout"] = time.monotonic() - start
        log.info("%s: computing %s at %s in %s", worker_name(), what, commit[:12], clone)
        start = time.monotonic()
        try:
            if experiment:
                sets = [arg for override in overrides or [] for arg in ("-S", override)]
                command = ["dvc", "exp", "run", "--pull", "-n", experiment, *sets]
            else:
                command = ["dvc", "repro", "--pull", *(stages or [])]
            log.info("%s", run_limited(command, clone, deadline).strip())
            seconds["compute"] = time.monotonic() - start
            start = time.monotonic()
            run_limited(["dvc", "push", "--run-cache", *(stages or [])], clone, deadline)
            if experiment and not push_experiment(clone, experiment):
                log.warning("%s: experiment %s is already on the git remote (another run of "
                            "this set finished first); this duplicate is dropped",
                            worker_name(), experiment)
            seconds["push"] = time.monotonic() - start
        except SetTimedOut as timed_out:
            return Failed(name=TIMED_OUT, message=f"{timed_out} (time limit {limit:.0f} s)")
        except workspace.CommandFailed as failure:
            raise SetFailed(f"{what} failed on {worker_name()}: {failure}") from None
    log.info(
        "%s: %s done (%s)",
        worker_name(),
        what,
        ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items()),
    )
    record_seconds(seconds)
    return {
        "worker": worker_name(),
        "seconds": seconds,
        "experiment": experiment,
        "stages": stages,
    }


def push_experiment(clone: Path, experiment: str) -> bool:
    """Push the experiment's git ref to origin, never over another: False when the remote
    already holds a different one under that name (DVC's "diverged")."""
    from dvc.repo import Repo

    with Repo(str(clone)) as repo:
        result = repo.experiments.push("origin", [experiment], force=False)
    return experiment not in result.get("diverged", [])


def record_seconds(seconds: dict[str, float]) -> None:
    """The phases' wall times as labels of this flow run (`lenet.seconds.<phase>`), where the
    coordinator reads them with the run's state (results stay on the worker's machine)."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    with get_client(sync_client=True) as client:
        client.update_flow_run_labels(
            flow_run.id,
            {f"{SECONDS_LABEL}{phase}": f"{value:.2f}" for phase, value in seconds.items()},
        )


def seconds_of(run) -> dict[str, float]:
    """The phase times record_seconds() put on a finished flow run."""
    labels = run.labels or {}
    return {
        phase: float(labels[SECONDS_LABEL + phase])
        for phase in PHASES
        if SECONDS_LABEL + phase in labels
    }


def deploy_set_flow(pool: str) -> str:
    """Create `pool` (a process work pool) if new, and register the set flow on it by module
    path; the same deployment whichever machine registers it. Returns its name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.types.entrypoint import EntrypointType
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(
                WorkPoolCreate(
                    name=pool,
                    type=ProcessWorker.type,
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                )
            )
        except ObjectAlreadyExists:
            pass
        watch.install(client)  # whoever started the server: lost runs are found
    name = deployment(pool)
    compute_set.to_deployment(
        name=name.partition("/")[2],
        work_pool_name=pool,
        entrypoint_type=EntrypointType.MODULE_PATH,
        job_variables={"env": watch.heartbeat_env()},
    ).apply()
    return name

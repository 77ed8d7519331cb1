"""Faults survived, with real processes on tiny data: a killed training run resumes to the same
bytes, a full disk loses nothing. (A second run while one runs is refused: test_flow, where the
refused runs include a Prefect flow.)"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.helpers import read_until, start_group
from harness.synthetic import TUNED_TRIALS, copy_project, run_in, set_params

pytestmark = pytest.mark.integration
STAGE = "train@digits"


def kill_after(process: subprocess.Popen, marker: str, times: int = 1) -> None:
    """SIGKILL the process group as soon as `marker` has been printed `times` times."""
    read_until(process, marker, times)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def training_outputs(project: Path) -> dict[str, bytes]:
    """The train stage's outputs (model, curves, metrics) by path, and its dvc.lock entry."""
    files = [project / "models" / "digits" / "model.keras",
             *sorted((project / "reports" / "train" / "digits").rglob("*.*"))]
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"][STAGE]
    return {**{str(f.relative_to(project)): f.read_bytes() for f in files},
            "dvc.lock": yaml.safe_dump(lock).encode()}


def test_training_killed_after_its_second_epoch_resumes_to_the_same_bytes(
    reproduced_project, tmp_path
):
    set_params(reproduced_project, "train", epochs=4)
    uninterrupted = copy_project(reproduced_project, tmp_path / "uninterrupted")
    run_in(uninterrupted, "dvc", "repro", STAGE)

    killed = start_group(reproduced_project, "dvc", "repro", STAGE)
    kill_after(killed, "digits: epoch 2/4 done, resume state saved")
    state = reproduced_project / ".lenet" / "resume" / "train-digits.npz"
    assert state.exists()
    assert not (reproduced_project / "models" / "digits" / "model.keras").exists()

    rerun = run_in(reproduced_project, "dvc", "repro", STAGE)
    assert "digits: resuming after epoch 2/4" in rerun.stderr
    assert "Epoch 1/4" not in rerun.stdout and "Epoch 3/4" in rerun.stdout
    assert training_outputs(reproduced_project) == training_outputs(uninterrupted)
    assert not state.exists()  # a completed stage leaves no resume state


def test_resume_state_of_other_params_is_never_used(reproduced_project):
    set_params(reproduced_project, "train", epochs=4)
    kill_after(start_group(reproduced_project, "dvc", "repro", STAGE), "digits: epoch 2/4 done")
    set_params(reproduced_project, "train", epochs=4, learning_rate=0.003)
    rerun = run_in(reproduced_project, "dvc", "repro", STAGE)
    assert "resuming" not in rerun.stderr
    assert "left by a run of other params, data or code: starting afresh" in rerun.stderr
    assert "Epoch 1/4" in rerun.stdout


def test_search_killed_after_two_trials_resumes_to_the_same_results(reproduced_project,
                                                                    tuned_template):
    """The uninterrupted search of the same params is tuned_template's."""
    set_params(reproduced_project, "tune", max_trials=TUNED_TRIALS)
    kill_after(
        start_group(reproduced_project, "dvc", "repro", "tune/dvc.yaml"), "trial done", times=2
    )
    rerun = run_in(reproduced_project, "dvc", "repro", "tune/dvc.yaml")
    assert "resuming the search:" in rerun.stderr
    assert rerun.stderr.count("trial done") < TUNED_TRIALS
    for name in ("trials.csv", "summary.json", "best_params.yaml"):
        tuned = Path("reports", "tune", name)
        assert (reproduced_project / tuned).read_text() == (tuned_template / tuned).read_text(), (
            name
        )
    assert not (reproduced_project / ".lenet" / "resume" / "tune").exists()


def workspace_files(project: Path) -> set[tuple[Path, bytes]]:
    """Every file and its bytes, but git's, DVC's and the record of which run owns the workspace."""
    bookkeeping = {Path(".lenet/run.json"), Path(".lenet/run.lock")}
    return {(p.relative_to(project), p.read_bytes()) for p in project.rglob("*")
            if p.is_file() and p.relative_to(project).parts[0] not in (".git", ".dvc")
            and p.relative_to(project) not in bookkeeping}


def cache_is_intact(project: Path) -> bool:
    """Every file in DVC's cache has the md5 its name says."""
    entries = [e for e in (project / ".dvc" / "cache" / "files" / "md5").rglob("*")
               if e.is_file() and not e.name.endswith(".dir")]
    return all(hashlib.md5(e.read_bytes()).hexdigest() == e.parent.name + e.name for e in entries)


@pytest.mark.parametrize(("stage", "limit_kb", "named"), [
    ("validate@digits", 1024, "reports/validation/docs/digits"),  # Great Expectations' own writes
    ("train@digits", 512, ".lenet/resume/train-digits.npz"),  # the first file over 512 KB
])
def test_a_full_disk_fails_the_stage_naming_the_file_and_loses_nothing(reproduced_project, stage,
                                                                       limit_kb, named):
    before = workspace_files(reproduced_project)
    limited = ["bash", "-c", f'ulimit -f {limit_kb} && exec "$@"', "limited"]  # a real EFBIG
    failed = run_in(reproduced_project, *limited, "dvc", "repro", "--force", "--single-item",
                    stage, check=False)
    assert failed.returncode != 0
    assert f"error: {stage}: {named}: not written: File too large" in failed.stderr
    assert workspace_files(reproduced_project) <= before  # outputs gone, none new or half-written
    assert cache_is_intact(reproduced_project)

    run_in(reproduced_project, "dvc", "repro")  # space freed: the next run completes the same
    assert run_in(reproduced_project, "git", "status", "--porcelain").stdout == ""


def test_a_damaged_resume_state_is_ignored_and_training_starts_afresh(reproduced_project):
    state = reproduced_project / ".lenet" / "resume" / "train-digits.npz"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_bytes(b"PK\x03\x04 not a whole archive")
    rerun = run_in(reproduced_project, "dvc", "repro", "--force", "--single-item", STAGE)
    assert ".lenet/resume/train-digits.npz is unreadable" in rerun.stderr
    assert "Epoch 1/2" in rerun.stdout
    assert run_in(reproduced_project, "git", "status", "--porcelain").stdout == ""  # same bytes

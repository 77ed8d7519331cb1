"""Same params.yaml, same bytes: the reproducibility profile, byte-identical reruns, `verify`."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest
import yaml

from harness.synthetic import ROOT, copy_project, run_in
from pipeline.core import workspace
from pipeline.core.config import load_params
from pipeline.runtime import machine
from pipeline.runtime import profile as runtime
from pipeline.tools import verify

# Settings that change oneDNN's arithmetic when nothing pins them (each measured to change the
# weights): a lower instruction set than this CPU's, one intra-op thread, oneDNN off.
HOSTILE_ENV = {
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}
# The train stage without pipeline.command, i.e. without the profile: what a plain Keras
# script does.
TRAIN_WITHOUT_PROFILE = (
    "from pipeline.core import config, paths; from pipeline.stages import train; "
    "p = config.load_params(); "
    "train.run('digits', p.dataset('digits'), p, paths.DatasetPaths('digits'))"
)


def weights_hash(project: Path) -> str:
    with zipfile.ZipFile(project / "models/digits/model.keras") as archive:
        return hashlib.sha256(archive.read("model.weights.h5")).hexdigest()


VARIANTS = {"hostile env": tuple(f"{k}={v}" for k, v in HOSTILE_ENV.items()),
            "one core": ("taskset", "-c", "0")}


def train_hashes(
    project: Path, command: tuple[str, ...], variants: tuple[str, ...]
) -> dict[str, str]:
    """The trained weights' hash under each of `variants`: with HOSTILE_ENV preset, on one core."""
    hashes = {}
    for label in variants:
        run_in(project, "env", *VARIANTS[label], *command)
        hashes[label] = weights_hash(project)
    return hashes


@pytest.mark.integration
def test_profile_makes_weights_independent_of_environment_and_core_count(reproduced_project):
    profile = load_params(reproduced_project / "params.yaml").reproducibility
    holds, why = machine.honoured(profile, found_gpus=[])
    if not holds:  # the weights may still agree, but the profile is not what makes them
        pytest.skip(f"the reproducibility profile cannot hold on this machine: {why}")
    # The committed model is the plain variant: `dvc repro` trained it in this environment.
    hashes = {"plain": weights_hash(reproduced_project), **train_hashes(
        reproduced_project, ("python", "-m", "pipeline", "train", "--dataset", "digits"),
        ("hostile env", "one core"))}
    assert len(hashes) == 3 and len(set(hashes.values())) == 1, hashes
    facts = json.loads((reproduced_project / "reports/runtime/digits/train.json").read_text())
    assert facts["threads"] == {"intra_op": profile.intra_op_threads,
                                "inter_op": profile.inter_op_threads}
    assert facts["environment"]["ONEDNN_MAX_CPU_ISA"] == profile.cpu_isa
    assert facts["profile_honoured"] is True


@pytest.mark.integration
def test_without_the_profile_the_hostile_env_gives_other_weights_than_the_profile(
    reproduced_project,
):
    """The companion of the test above: it could fail here. With the profile broken, that test's
    hostile-environment run would be this one, and its weights would not be the committed ones.
    (What each setting does on real data: bench.profiles.)"""
    committed = weights_hash(reproduced_project)  # `dvc repro` trained it under the profile
    hashes = train_hashes(reproduced_project, ("python", "-c", TRAIN_WITHOUT_PROFILE),
                          ("hostile env",))
    assert hashes["hostile env"] != committed, hashes


@pytest.fixture(scope="module")
def committed_project(reproduced_template, tiny_template, tmp_path_factory):
    """The tiny project after `dvc repro`, results committed; shared by this module's verify
    tests (each leaves it as it found it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LENET_DATA_MIRROR", tiny_template[1].as_uri())
        yield copy_project(reproduced_template[0], tmp_path_factory.mktemp("verify") / "project")


def output_hashes(project: Path) -> dict[str, str]:
    """sha256 of every file the stages wrote, runtime facts (wall times) aside."""
    return {
        str(path.relative_to(project)): hashlib.sha256(path.read_bytes()).hexdigest()
        for top in ("data", "models", "metrics", "reports")
        for path in sorted((project / top).rglob("*"))
        if path.is_file() and "runtime" not in path.parts
    }


@pytest.mark.integration
def test_every_stage_run_twice_gives_identical_bytes_and_a_clean_git_status(committed_project):
    first = output_hashes(committed_project)
    assert any(name.endswith(".onnx") for name in first) and any("docs" in name for name in first)
    run_in(committed_project, "dvc", "repro", "--force")
    assert output_hashes(committed_project) == first
    assert run_in(committed_project, "git", "status", "--porcelain").stdout == ""


@pytest.mark.integration
def test_verify_retrains_and_passes_on_an_untouched_project(committed_project):
    result = run_in(committed_project, "python", "-m", "pipeline", "verify")
    assert "digits: identical (trained again: 2 epochs in" in result.stdout
    # What feeds training came from the cache: the validate stage did not run again.
    assert "; inputs from the DVC cache;" in result.stdout
    assert run_in(committed_project, "git", "worktree", "list").stdout.count("\n") == 1


def retrained_here(project: Path) -> verify.Retrained:
    """What verify's retraining gives on this machine: the project's own outputs (byte for byte,
    as test_verify_retrains_and_passes_on_an_untouched_project and the twice-run test show)."""
    return verify.Retrained(
        yaml.safe_load((project / "dvc.lock").read_text()),
        json.loads((project / "metrics/digits.json").read_text()),
        json.loads((project / "reports/runtime/digits/train.json").read_text()),
    )


def committed_results(project: Path, here: verify.Retrained) -> tuple[dict, dict, str]:
    """(dvc.lock, metrics, CPU vendor of the model card) of the committed project (its working
    tree is HEAD's, so `here` holds its files), the metrics a copy to edit as a hand or another
    machine would have before committing."""
    card = json.loads((project / "models/digits/model_card.json").read_text())
    return here.lock, copy.deepcopy(here.metrics), card["reproducibility"]["cpu_vendor"]


@pytest.mark.integration
def test_verify_fails_naming_the_number_when_a_committed_metric_was_edited(committed_project):
    here = retrained_here(committed_project)
    lock, metrics, vendor = committed_results(committed_project, here)
    real = metrics["test"]["accuracy"]
    metrics["test"]["accuracy"] = 0.123  # edited by hand before the commit
    verdict = verify.compare("digits", here, lock, metrics, band=0.003, committed_vendor=vendor)
    assert not verdict.passed
    assert verdict.line().startswith("digits: differs (trained again: 2 epochs in")
    assert f"test.accuracy: 0.123 committed, {real} now" in verdict.line()
    assert f"test accuracy changed by {real - 0.123:.4f}, band 0.003" in verdict.line()


@pytest.mark.integration
def test_verify_holds_a_cpu_of_another_vendor_to_the_band_not_the_bytes(committed_project):
    """An Intel Xeon retrained an AMD EPYC's results to other bytes under the same profile
    (README): where the committed card names another vendor, the band decides."""
    here = retrained_here(committed_project)
    lock, metrics, _ = committed_results(committed_project, here)
    real = metrics["test"]["accuracy"]
    metrics["test"]["accuracy"] = round(real - 0.001, 6)  # what another CPU's rounding might give
    verdict = verify.compare("digits", here, lock, metrics, band=0.003,
                             committed_vendor="OtherVendor")
    assert verdict.passed and verdict.status == "within band"
    assert "committed from a OtherVendor CPU, this one is " in verdict.profile_note
    assert "test accuracy changed by 0.0010, band 0.003" in verdict.profile_note
    # The same change from this machine's vendor is excused only where the profile cannot hold.
    same = verify.compare("digits", here, lock, metrics, band=0.003,
                          committed_vendor=here.facts["cpu"]["vendor"])
    assert same.status == ("differs" if here.facts["profile_honoured"] else "within band")


def test_verify_exits_1_when_a_dataset_differs_and_prints_every_verdict(monkeypatch, capsys):
    from pipeline import cli

    verdicts = [verify.Verdict("digits", "identical"),
                verify.Verdict("fashion", "differs", ["test.accuracy: 0.9 committed, 0.8 now"])]
    monkeypatch.setattr(verify, "run", lambda datasets, rev: verdicts)
    assert cli.main(["verify"]) == 1
    printed = capsys.readouterr().out
    assert "digits: identical" in printed and "fashion: differs" in printed
    assert "  test.accuracy: 0.9 committed, 0.8 now" in printed
    verdicts.pop()
    assert cli.main(["verify"]) == 0


@pytest.mark.integration
def test_profile_lists_the_band_only_for_verify(committed_project):
    """accuracy_band is verify's: changing it must not retrain anything."""
    params = yaml.safe_load((committed_project / "params.yaml").read_text())
    params["reproducibility"]["accuracy_band"] = 0.01
    (committed_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        assert "Running stage" not in run_in(committed_project, "dvc", "repro").stdout
    finally:
        run_in(committed_project, "git", "checkout", "params.yaml")


def python_in_root(code: str, **env: str) -> subprocess.CompletedProcess:
    return workspace.run(
        sys.executable, "-c", code, cwd=ROOT, env={**os.environ, **env}, check=False
    )


@pytest.mark.parametrize(("differ", "honoured", "change", "status", "says"), [
    (False, True, 0.0, "identical", None),
    # A GPU, or a CPU without the ISA: the band decides.
    (True, False, 0.002, "within band", "test accuracy changed by 0.0020, band 0.003"),
    (True, False, 0.004, "differs", "test accuracy changed by 0.0040, band 0.003"),
    # A CPU with the ISA, of the committing vendor: bytes or nothing, a small change explained,
    # a large one not excused.
    (True, True, 0.0004, "differs", "another generation's rounding is possible"),
    (True, True, 0.5, "differs", "test accuracy changed by 0.5000, band 0.003"),
])
def test_verify_judges_bytes_first_then_the_band_only_where_the_profile_cannot_hold(
        differ, honoured, change, status, says):
    from pipeline.tools.verify import judge

    got, note = judge(differ, honoured, change, band=0.003)
    assert got == status
    assert (says in note) if says else note == ""
    if change > 0.003:
        assert "expected" not in note


def test_profile_overrides_a_contrary_environment_variable_and_says_so():
    result = python_in_root(
        "import logging, os; logging.basicConfig(); from pipeline.core import config; "
        "from pipeline.runtime import profile; "
        "profile.apply_profile(config.load_params().reproducibility); "
        "print(os.environ['ONEDNN_MAX_CPU_ISA'], os.environ['TF_NUM_INTRAOP_THREADS'])",
        ONEDNN_MAX_CPU_ISA="SSE41", TF_NUM_INTRAOP_THREADS="7")
    assert result.returncode == 0, result.stderr
    wanted = load_params(ROOT / "params.yaml").reproducibility
    assert "SSE41" != wanted.cpu_isa and 7 != wanted.intra_op_threads  # contrary indeed
    assert result.stdout.split() == [wanted.cpu_isa, str(wanted.intra_op_threads)]
    assert "ONEDNN_MAX_CPU_ISA=SSE41 in the environment ignored" in result.stderr


def test_profile_refuses_to_apply_after_tensorflow_was_imported(monkeypatch):
    """TensorFlow reads its threading and oneDNN settings once, when imported: a profile applied
    later would be recorded as in force without being so."""
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    monkeypatch.setattr(os, "environ", dict(os.environ))  # untouched even if the check broke
    with pytest.raises(runtime.ProfileError, match="must be applied before TensorFlow is imported"):
        runtime.apply_profile(load_params(ROOT / "params.yaml").reproducibility)

"""One program: `lenet` and `python -m pipeline` are the same command line, generated from the
registries; dvc.yaml runs the stage entry point, whose commands `lenet` also has; every make target
and dvc.yaml stage calls a command that exists."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

from harness.synthetic import ROOT
from pipeline.cli import REGISTRY, parser
from pipeline.core import workspace
from pipeline.stages.commands import REGISTRY as STAGE_COMMANDS


def help_text(*program: str) -> str:
    return workspace.run(*program, "--help").stdout


def test_console_script_and_module_are_the_same_program_and_list_every_command():
    console = help_text(str(Path(sys.executable).parent / "lenet"))
    assert console == help_text(sys.executable, "-m", "pipeline")
    for name, command in REGISTRY.items():
        assert re.search(rf"^  {name} +{re.escape(command.help[:40])}", console, re.MULTILINE), name
    for group in ("pipeline stages", "tools", "Prefect"):
        assert group in console


def test_every_command_has_its_own_help_and_per_dataset_commands_need_a_dataset(capsys):
    cli = parser()
    for name, command in REGISTRY.items():
        with pytest.raises(SystemExit) as done:
            cli.parse_args([name, "--help"])
        assert done.value.code == 0
        assert " ".join(command.help.split()[:4]) in " ".join(capsys.readouterr().out.split())
        if command.per_dataset:
            with pytest.raises(SystemExit) as refused:
                cli.parse_args([name])
            assert refused.value.code == 2
            assert "--dataset" in capsys.readouterr().err


def test_every_dvc_stage_runs_a_registered_stage_command():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    commands = {name: spec.get("do", spec)["cmd"] for name, spec in dvc["stages"].items()}
    assert set(commands) | {"tune", "reference"} == set(STAGE_COMMANDS)
    for name, cmd in commands.items():  # per dataset (foreach), or one over all datasets
        per_dataset = STAGE_COMMANDS[name].per_dataset
        assert per_dataset == ("foreach" in dvc["stages"][name])
        assert cmd == f"python -m pipeline.stages {name}" + (
            " --dataset ${key}" if per_dataset else ""
        )
    tune = yaml.safe_load((ROOT / "tune/dvc.yaml").read_text())
    assert tune["stages"]["tune"]["cmd"] == "python -m pipeline.stages tune"


def test_every_make_target_calls_a_command_that_exists():
    """Every target of the Makefile, dry-run: each `lenet X` it calls is a registered command and
    each `python -m M` a module that exists (a renamed command or module breaks a target)."""
    makefile = (ROOT / "Makefile").read_text()
    targets = sorted(set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", makefile, re.MULTILINE)))
    dry = workspace.run("make", "-n", *targets, "STAMP=/dev/null", cwd=ROOT).stdout
    called = set(re.findall(r"^lenet (\S+)", dry, re.MULTILINE))
    assert called and called - set(REGISTRY) == set(), dry
    modules = set(re.findall(r"\bpython -m ([\w.]+)", dry))
    assert modules and [m for m in sorted(modules) if importlib.util.find_spec(m) is None] == []
    assert "python -m pipeline.orchestration.server" not in dry


@pytest.mark.integration  # a process per stage that imports TensorFlow: not the unit tier's
@pytest.mark.parametrize("name, unimportable", [
    ("train", ["sklearn", "matplotlib", "pandas"]),
    ("evaluate", ["sklearn", "pandas"]),  # its figures need matplotlib
    ("export", ["sklearn", "matplotlib", "pandas"]),
    ("tune", []),  # its Bayesian search needs scikit-learn, its figure matplotlib
])
def test_stages_run_without_the_optional_packages_they_never_use(name, unimportable):
    """Keras, dvclive and tf2onnx import scikit-learn, matplotlib and pandas when they can, and go
    without them when the import fails: a fifth of the libraries' import time in each stage."""
    probe = ("import dataclasses\nfrom pipeline import command\n"
             "from pipeline.stages.commands import REGISTRY\n"
             "def probe(ctx):\n"
             "    for module in ('sklearn', 'matplotlib', 'pandas'):\n"
             "        try:\n            __import__(module)\n"
             "        except ImportError:\n            print(module)\n"
             f"spec = dataclasses.replace(REGISTRY[{name!r}], run=probe, per_dataset=False,\n"
             "                           exclusive=False, under_profile=False, precheck=None)\n"
             "command.execute(spec, command.Context(None))")
    assert workspace.run(sys.executable, "-c", probe).stdout.split() == unimportable


def test_a_stage_run_before_its_inputs_exist_names_the_stage_to_run_first(tmp_path):
    for name in ("dvc.yaml", "params.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    result = workspace.run(sys.executable, "-m", "pipeline.stages", "train", "--dataset", "mnist",
                           cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert ("data/processed/mnist.npz: not found; run `dvc repro preprocess@mnist` first"
            in result.stderr), result.stderr

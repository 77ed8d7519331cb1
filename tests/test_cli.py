"""One program: `lenet` and `python -m pipeline` are the same command line, generated from the
registry, and every make target and dvc.yaml stage calls a command that exists."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from pipeline import workspace
from pipeline.cli import parser
from pipeline.commands import REGISTRY, STAGES
from tests.synthetic import ROOT


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
    assert set(commands) == set(STAGES)
    for name, cmd in commands.items():  # per dataset (foreach), or one over all datasets
        per_dataset = REGISTRY[name].per_dataset
        assert per_dataset == ("foreach" in dvc["stages"][name])
        assert cmd == f"python -m pipeline {name}" + (" --dataset ${key}" if per_dataset else "")
    tune = yaml.safe_load((ROOT / "tune/dvc.yaml").read_text())
    assert tune["stages"]["tune"]["cmd"] == "python -m pipeline tune"


def test_every_make_target_calls_a_command_that_exists():
    targets = ["repro", "verify", "pr-report", "server-start", "server-stop", "flow", "audit",
               "serve", "worker", "test-fast", "bench"]
    dry = workspace.run("make", "-n", *targets, "STAMP=/dev/null", cwd=ROOT).stdout
    called = re.findall(r"^lenet (\S+)", dry, re.MULTILINE)
    assert set(called) == {"verify", "report", "server", "flow", "audit", "serve", "worker"}
    assert set(called) <= set(REGISTRY)
    assert "python -m pipeline.orchestrate" not in dry


@pytest.mark.parametrize("name, unimportable", [
    ("train", ["sklearn", "matplotlib", "pandas"]),
    ("evaluate", ["sklearn", "pandas"]),  # its figures need matplotlib
    ("export", ["sklearn", "matplotlib", "pandas"]),
    ("tune", []),  # a tool: its Bayesian search needs scikit-learn, its figure matplotlib
])
def test_stages_run_without_the_optional_packages_they_never_use(name, unimportable):
    """Keras, dvclive and tf2onnx import scikit-learn, matplotlib and pandas when they can, and go
    without them when the import fails: a fifth of the libraries' import time in each stage."""
    probe = ("import dataclasses\nfrom pipeline import cli\n"
             "from pipeline.commands import REGISTRY, Context\n"
             "def probe(ctx):\n"
             "    for module in ('sklearn', 'matplotlib', 'pandas'):\n"
             "        try:\n            __import__(module)\n"
             "        except ImportError:\n            print(module)\n"
             f"spec = dataclasses.replace(REGISTRY[{name!r}], run=probe, per_dataset=False,\n"
             "                           exclusive=False, under_profile=False)\n"
             "cli.execute(spec, Context(None))")
    assert workspace.run(sys.executable, "-c", probe).stdout.split() == unimportable

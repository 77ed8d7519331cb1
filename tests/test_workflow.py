"""The GitHub workflow, checked as far as possible without GitHub."""

import subprocess

import yaml

from harness.synthetic import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "pr-report.yml"


def run_lines() -> list[str]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    return [line.strip() for step in steps if "run" in step for line in step["run"].splitlines()]


def test_workflow_is_valid_yaml_on_pull_requests():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert "pull_request" in workflow[True]  # PyYAML reads the key `on` as True
    assert workflow["permissions"]["pull-requests"] == "write"


def test_every_shell_step_is_a_project_command():
    allowed = ("make install", 'make pr-report ARGS="', '.venv/bin/dvc remote add --local --default ci ')
    lines = run_lines()
    assert lines, "the workflow runs nothing"
    assert all(line.startswith(allowed) for line in lines), lines


def test_pr_report_target_runs_the_tested_report_command():
    dry = subprocess.run(["make", "-n", "pr-report", "ARGS=--reduced presets/pr-reduced.yaml"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    commands = [" ".join(line.split()) for line in dry.splitlines()]
    assert "lenet report --base origin/main --reduced presets/pr-reduced.yaml" in commands
    assert (ROOT / "presets" / "pr-reduced.yaml").is_file()

"""The GitHub workflows, checked as far as possible without GitHub: pr-report.yml runs the pull
request's code with a read-only token and uploads the report; pr-comment.yml, which may comment,
never checks out or runs that code; the caches are keyed on the files that define them; make
lint's actionlint sees every workflow."""

import re
import subprocess

import pytest
import yaml

from harness.synthetic import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
REPORT, COMMENT, CACHE = (WORKFLOWS / name for name in ("pr-report.yml", "pr-comment.yml",
                                                        "install-cache.yml"))
INSTALL = ROOT / ".github" / "actions" / "install" / "action.yml"
COMMENT_STEP = 'python -m pipeline.report.comment "$RUNNER_TEMP/metrics-report"'


def load(path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    if True in workflow:  # PyYAML reads the key `on` as True
        workflow["on"] = workflow.pop(True)
    return workflow


def steps(path) -> list[dict]:
    document = load(path)
    if "runs" in document:  # a composite action
        return document["runs"]["steps"]
    return [step for job in document["jobs"].values() for step in job["steps"]]


def run_lines(path) -> list[str]:
    return [line.strip() for step in steps(path) if "run" in step for line in step["run"].splitlines()]


def uses(path, action: str) -> list[dict]:
    return [step for step in steps(path) if step.get("uses", "").split("@")[0] == action]


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_every_job_asks_for_its_permissions_and_no_workflow_uses_pull_request_target(path):
    workflow = load(path)
    assert "pull_request_target" not in workflow["on"]
    assert workflow["permissions"] == {}  # a job gets what it names, nothing by default
    assert all("permissions" in job for job in workflow["jobs"].values())


def test_the_pull_request_workflow_runs_with_a_read_only_token():
    workflow = load(REPORT)
    assert list(workflow["on"]) == ["pull_request"]
    assert [job["permissions"] for job in workflow["jobs"].values()] == [{"contents": "read"}]
    for checkout in uses(REPORT, "actions/checkout"):
        assert checkout["with"]["persist-credentials"] is False  # no token left in .git/config
    assert "GITHUB_TOKEN" not in REPORT.read_text()  # nothing to post with: pr-comment.yml posts


def test_the_report_is_uploaded_whatever_the_check_says_and_downloaded_by_name():
    upload, = uses(REPORT, "actions/upload-artifact")
    download, = uses(COMMENT, "actions/download-artifact")
    assert upload["if"] == "always()" and upload["with"]["path"] == "reports/pr/"
    assert download["with"]["pattern"] == upload["with"]["name"] == "metrics-report"


def test_the_comment_workflow_follows_the_report_with_least_permissions():
    workflow = load(COMMENT)
    assert workflow["on"] == {"workflow_run": {"workflows": [load(REPORT)["name"]],
                                               "types": ["completed"]}}
    job, = workflow["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert "github.event.workflow_run.event == 'pull_request'" in job["if"]


def test_the_comment_workflow_never_checks_out_or_runs_the_pull_requests_code():
    for checkout in uses(COMMENT, "actions/checkout"):  # the default branch: this workflow's own
        assert set(checkout.get("with", {})) <= {"persist-credentials"}
        assert checkout["with"]["persist-credentials"] is False
    assert not [s for s in steps(COMMENT) if s.get("uses", "").startswith("./")]
    # No cache either: one a pull request's run could have written is no input for this token.
    assert not uses(COMMENT, "actions/cache")
    assert all("cache" not in s.get("with", {}) for s in uses(COMMENT, "actions/setup-python"))
    download, = uses(COMMENT, "actions/download-artifact")
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["with"]["github-token"] == "${{ secrets.GITHUB_TOKEN }}"
    # Outside the checkout: nothing in the artifact can stand in for the project's modules.
    assert download["with"]["path"] == "${{ runner.temp }}/metrics-report"
    # The one shell step reads the artifact as data; nothing from it is executed or sourced.
    assert run_lines(COMMENT) == [COMMENT_STEP]
    assert "head_sha" not in COMMENT.read_text().split("jobs:")[1]  # the script reads the event


def test_every_shell_step_is_a_project_command():
    allowed = ("make install", 'make pr-report ARGS="', '.venv/bin/dvc remote add --local --default ci ')
    lines = run_lines(REPORT) + run_lines(CACHE) + run_lines(INSTALL)
    assert lines, "the workflows run nothing"
    assert all(line.startswith(allowed) for line in lines), lines


def test_the_remote_gets_its_credentials_in_its_step_only():
    workflow = load(REPORT)
    job, = workflow["jobs"].values()
    remote, = [s for s in job["steps"] if "--pull" in s.get("run", "")]
    assert set(remote["env"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"}
    assert job["env"]["DVC_REMOTE_URL"] == "${{ secrets.DVC_REMOTE_URL }}"


def test_both_report_workflows_install_through_the_cached_install():
    for path in (REPORT, CACHE):
        assert [s["uses"] for s in steps(path) if s.get("uses", "").startswith("./")] == [
            "./.github/actions/install"]
    assert "pull_request" not in load(CACHE)["on"]  # it fills the default branch's cache


def test_caches_are_keyed_on_the_files_that_make_install_depends_on():
    keys = {step["with"]["path"]: step["with"]["key"] for step in uses(INSTALL, "actions/cache")}
    hashed = {path: re.findall(r"'([^']+)'", re.search(r"hashFiles\(([^)]*)\)", key)[1])
              for path, key in keys.items()}
    assert hashed == {".venv": ["pyproject.toml"],
                      "~/.npm": ["tools/web-assets/package-lock.json",
                                 "tools/demo-assets/package-lock.json"]}
    assert "steps.python.outputs.python-version" in keys[".venv"]  # a venv is one interpreter's
    stamp = re.search(r"^\$\(STAMP\): (.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)[1]
    assert sorted(stamp.split()) == sorted(hashed[".venv"] + hashed["~/.npm"])
    assert set(load(CACHE)["on"]["push"]["paths"]) >= set(stamp.split())


def test_make_lint_runs_actionlint_on_every_workflow():
    dry = subprocess.run(["make", "-n", "lint"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert "node tools/actionlint/lint.mjs .github/workflows/*.yml" in dry
    assert {REPORT, COMMENT, CACHE} <= set(WORKFLOWS.glob("*.yml"))


def test_pr_report_target_runs_the_tested_report_command():
    dry = subprocess.run(["make", "-n", "pr-report", "ARGS=--reduced presets/pr-reduced.yaml"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    commands = [" ".join(line.split()) for line in dry.splitlines()]
    assert "lenet report --base origin/main --reduced presets/pr-reduced.yaml" in commands
    assert (ROOT / "presets" / "pr-reduced.yaml").is_file()


def test_pr_report_target_never_posts_the_comment_in_actions(tmp_path):
    """pr-report.yml has no token that may comment (pr-comment.yml posts): `make pr-report`
    must not add --post-comment in GitHub Actions, or every run would fail for want of one."""
    event = tmp_path / "event.json"
    event.write_text('{"pull_request": {"number": 7}}')
    dry = subprocess.run(["make", "-n", "pr-report", f"GITHUB_EVENT_PATH={event}"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "lenet report --base origin/main" in dry and "--post-comment" not in dry

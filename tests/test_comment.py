"""The comment workflow's script (python -m pipeline.report.comment, run by pr-comment.yml) run as
that workflow runs it, against a stand-in for GitHub's REST API on 127.0.0.1: the artifact is
untrusted input, and every failure is one line on stderr."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.github import REPO, TOKEN, FakeGitHub, head
from harness.helpers import free_port
from harness.synthetic import ROOT
from pipeline.report.github import COMMENT_FILE, COMMENT_LIMIT, MARKER, NUMBER_FILE

SHA = "c0ffee" + "0" * 34  # the commit the triggering run tested
BRANCH = "better-augmentation"
REPORT = f"{MARKER}\n## LeNet-5 pipeline: this change vs `origin/main`\n\n- **digits: improved**\n"


@pytest.fixture(scope="module")
def server():
    """One server for the module: stopping one takes half a second."""
    with FakeGitHub() as github:
        yield github


@pytest.fixture
def github(server) -> FakeGitHub:
    """The stand-in for GitHub, knowing one pull request: #7, from a fork."""
    server.reset(pulls={7: head(BRANCH, SHA, "contributor/lenet")})
    return server


def artifact(tmp_path, number: str = "7\n", body: str = REPORT):
    """What the report run uploads: the comment's markdown and the pull request's number."""
    folder = tmp_path / "metrics-report"
    folder.mkdir(exist_ok=True)
    (folder / NUMBER_FILE).write_text(number)
    (folder / COMMENT_FILE).write_text(body)
    return folder


def comment(tmp_path, github: FakeGitHub, folder, run: dict | None = None,
            **env) -> subprocess.CompletedProcess[str]:
    """The workflow's step: the script, with the workflow_run event and the environment GitHub
    Actions gives it."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"workflow_run": run or {
        "id": 42, "event": "pull_request", "head_sha": SHA, "head_branch": BRANCH,
        "head_repository": {"full_name": "contributor/lenet"}, "pull_requests": []}}))
    environment = {"PATH": "/usr/bin:/bin", "GITHUB_EVENT_PATH": str(event),
                   "GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.url,
                   **env}
    return subprocess.run([sys.executable, "-m", "pipeline.report.comment", str(folder)], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=60, check=False)


def refused(result, *words: str) -> None:
    """Exit 1 with one line on stderr that says `words`, no traceback."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: comment: ")
    for word in words:
        assert word in result.stderr, result.stderr


def test_a_valid_artifact_creates_the_comment_then_updates_it(github, tmp_path):
    github.comments.append({"id": 1, "issue": 7, "body": "a reviewer's comment"})
    first = comment(tmp_path, github, artifact(tmp_path))
    assert first.returncode == 0, first.stderr
    assert first.stdout == "pull request #7: report comment created\n"
    second = comment(tmp_path, github, artifact(tmp_path, body=REPORT + "\nsecond push\n"))
    assert second.stdout == "pull request #7: report comment updated\n", second.stderr
    assert [c["body"] for c in github.comments] == [
        "a reviewer's comment",
        REPORT + "\nsecond push\n",
    ]
    assert ("GET", f"/repos/{REPO}/pulls/7") in github.requests  # the number was checked first


def test_a_forged_number_is_refused_without_posting(github, tmp_path):
    """A fork's artifact naming another pull request (its head is another branch's commit)."""
    github.pulls[8] = head("main-fixes", "b" * 40, "maintainer/lenet")
    result = comment(tmp_path, github, artifact(tmp_path, number="8\n"))
    refused(result, "#8", "names another pull request", "not posted")
    assert github.writes() == []


def test_a_pull_request_that_moved_on_is_left_to_the_newer_run(github, tmp_path):
    github.pulls[7] = head(BRANCH, "d" * 40, "contributor/lenet")
    result = comment(tmp_path, github, artifact(tmp_path))
    assert result.returncode == 0 and result.stderr == ""
    assert "moved on to dddddddddddd" in result.stdout and "not posted" in result.stdout
    assert github.writes() == []


@pytest.mark.parametrize("number", ["7.0\n", "-7\n", "0\n", "07\n", "7\n8\n", "7 && curl evil\n",
                                    "", "12345678901\n", "\uff17\n", "0x7\n"])
def test_a_number_that_is_not_a_decimal_integer_is_refused_unasked(github, tmp_path, number):
    result = comment(tmp_path, github, artifact(tmp_path, number=number))
    refused(result, NUMBER_FILE)
    assert github.requests == []


@pytest.mark.parametrize(("body", "says"), [
    (REPORT + "x" * COMMENT_LIMIT, f"over GitHub's {COMMENT_LIMIT} for a comment"),
    (REPORT + "é" * (2 * COMMENT_LIMIT), f"over {4 * COMMENT_LIMIT} bytes"),  # never read whole
    ("## a comment without the report's marker\n", "no report marker"),
])
def test_a_body_that_is_not_a_report_is_refused_unasked(github, tmp_path, body, says):
    result = comment(tmp_path, github, artifact(tmp_path, body=body))
    refused(result, COMMENT_FILE, says)
    assert github.requests == []


def test_a_link_in_the_artifact_is_not_followed(github, tmp_path):
    folder = artifact(tmp_path)
    (folder / COMMENT_FILE).unlink()
    (tmp_path / "elsewhere.md").write_text(REPORT)
    (folder / COMMENT_FILE).symlink_to(tmp_path / "elsewhere.md")
    refused(comment(tmp_path, github, folder), COMMENT_FILE, "not in the artifact as a plain file")
    assert github.requests == []


@pytest.mark.parametrize(("method", "status", "body", "headers", "says"), [
    ("POST", 403, {"message": "Resource not accessible by integration"}, {},
     ["GitHub API 403 on POST", "no permission", "Resource not accessible by integration",
      "pull-requests: write"]),
    ("GET", 404, {"message": "Not Found"}, {}, [f"GitHub API 404 on GET /repos/{REPO}/pulls/7",
                                                "not found"]),
    ("POST", 422, {"message": "Validation Failed", "errors": [
        {"resource": "IssueComment", "code": "custom", "message": "Body is too long"}]}, {},
     ["GitHub API 422 on POST", "refused as invalid (Validation Failed: Body is too long)"]),
    ("POST", 403, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "60"},
     ["GitHub API 403 on POST", "rate limited, retry after 60 s", "secondary rate limit"]),
    ("GET", 429, {"message": "API rate limit exceeded"},
     {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1767225600"},
     ["GitHub API 429 on GET", "rate limited until 00:00:00 UTC"]),
])
def test_each_api_failure_is_one_clear_line(github, tmp_path, method, status, body, headers, says):
    github.fail(method, status, body, headers)
    result = comment(tmp_path, github, artifact(tmp_path))
    refused(result, *says)
    assert ("pull-requests: write" in result.stderr) == (status == 403 and not headers)


def test_an_unreachable_api_is_one_clear_line(github, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    refused(
        comment(tmp_path, github, artifact(tmp_path), GITHUB_API_URL=url), f"GitHub API at {url}"
    )


def test_no_artifact_posts_nothing_and_says_why(github, tmp_path):
    result = comment(tmp_path, github, tmp_path / "not-downloaded")
    assert result.returncode == 0 and "no report artifact" in result.stdout
    assert github.requests == []


@pytest.mark.parametrize("run", [
    {"id": 42, "event": "push", "head_sha": SHA},
    {"id": 42, "event": "pull_request", "head_sha": "HEAD"},
])
def test_only_the_event_of_a_pull_request_run_is_accepted(github, tmp_path, run):
    refused(comment(tmp_path, github, artifact(tmp_path), run=run), "workflow_run")
    assert github.requests == []


def test_the_script_needs_nothing_but_the_standard_library():
    """The comment workflow installs nothing: the script imports without site-packages (-S), and
    loads no module but the standard library's and its own."""
    probe = ("import sys; import pipeline.report.comment; "
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = subprocess.run([sys.executable, "-S", "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    assert set(loaded) - set(sys.stdlib_module_names) - {"pipeline", "__main__"} == set()

"""The pull-request report in a real git + DVC repository with two commits that differ."""

import http.server
import json
import threading
from typing import ClassVar

import pytest
import yaml

from pipeline.report.diff import Change, verdict
from pipeline.report.github import MARKER, post_comment
from tests.helpers import built_once, chromium_dom, run_in_mirror
from tests.synthetic import commit_all, copy_project, run_in


def test_verdicts_against_tolerance():
    assert verdict(Change(0.90, 0.95), 0.001) == "improved"
    assert verdict(Change(0.90, 0.9005), 0.001) == "unchanged"
    assert verdict(Change(0.90, 0.85), 0.001) == "regressed"
    assert verdict(Change(None, 0.85), 0.001) == "new"
    assert Change(0.8, 0.9).relative == pytest.approx(0.125)


@pytest.fixture(scope="session")
def two_commits_template(reproduced_template, tiny_template, tmp_path_factory, worker_id):
    """Commit 1 trains 2 epochs, commit 2 trains 1 epoch with another learning rate."""
    def build(base):
        project = copy_project(reproduced_template[0], base / "project")
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["train"].update(epochs=1, learning_rate=0.01)
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        run_in_mirror(project, tiny_template[1], "dvc", "repro")
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


@pytest.mark.integration
def test_report_shows_deltas_verdicts_and_images(two_commits):
    project = two_commits
    result = run_in(project, "python", "-m", "pipeline", "report", "--base", "HEAD~1")
    report = (project / "reports/pr/report.md").read_text()
    old, new = metric(project, "HEAD~1", "accuracy"), metric(project, "HEAD", "accuracy")
    assert f"| digits | test.accuracy | {old:.4f} | {new:.4f} | {new - old:+.4f} |" in report
    expected = verdict(Change(old, new), 0.001)
    assert f"**digits: {expected}**" in report and f"digits {expected}" in result.stdout
    assert "| `train.epochs` | `2` | `1` |" in report
    assert "| `train.learning_rate` |" in report
    for name in ("digits-confusion-base.png", "digits-confusion-new.png", "digits-curves.png"):
        assert (project / "reports/pr/images" / name).stat().st_size > 1000
        assert f"(images/{name})" in report


@pytest.mark.integration
def test_regression_beyond_tolerance_fails_when_asked(two_commits):
    project = two_commits
    metrics_file = project / "metrics/digits.json"
    metrics = json.loads(metrics_file.read_text())
    metrics["test"]["accuracy"] = metric(project, "HEAD~1", "accuracy") - 0.2
    metrics_file.write_text(json.dumps(metrics))
    plain = run_in(project, "python", "-m", "pipeline", "report", "--base", "HEAD~1")
    assert "digits regressed" in plain.stdout
    strict = run_in(project, "python", "-m", "pipeline", "report", "--base", "HEAD~1",
                    "--fail-on-regression", check=False)
    assert strict.returncode == 2
    assert "**digits: regressed**" in (project / "reports/pr/report.md").read_text()
    # The same switch in params.yaml (report.fail_on_regression), no flag.
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["report"]["fail_on_regression"] = True
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert run_in(project, "python", "-m", "pipeline", "report", "--base", "HEAD~1",
                  check=False).returncode == 2


@pytest.mark.integration
def test_html_report_renders_in_headless_chromium(two_commits):
    project = two_commits
    run_in(project, "python", "-m", "pipeline", "report", "--base", "HEAD~1")
    page = project / "reports/pr/report.html"
    # Count the images that decoded: rendered by the browser, not by us.
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace(
        "</body>", "<script>document.title='images:'+[...document.images].filter("
                   "i=>i.complete&&i.naturalWidth>0).length</script></body>"))
    dom = chromium_dom(probe, project / ".chromium")
    assert "<title>images:3</title>" in dom
    assert "<b>digits:" in dom and "test.accuracy" in dom


class FakeGitHub(http.server.BaseHTTPRequestHandler):
    """The three REST endpoints post_comment uses, kept in memory."""

    comments: ClassVar[list[dict]] = []

    def _reply(self, code, payload):
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self):
        assert self.headers["Authorization"] == "Bearer t0ken"
        self._reply(200, self.comments)

    def do_POST(self):
        self.comments.append({"id": len(self.comments) + 1, "body": self._body()["body"]})
        self._reply(201, self.comments[-1])

    def do_PATCH(self):
        comment_id = int(self.path.rsplit("/", 1)[1])
        self.comments[comment_id - 1]["body"] = self._body()["body"]
        self._reply(200, self.comments[comment_id - 1])

    def log_message(self, *args):
        pass


def test_comment_is_created_once_then_updated():
    FakeGitHub.comments = [{"id": 1, "body": "an unrelated review comment"}]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeGitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert post_comment(f"{MARKER}\nfirst", "o/r", 7, "t0ken", api) == "created"
        assert post_comment(f"{MARKER}\nsecond", "o/r", 7, "t0ken", api) == "updated"
    finally:
        server.shutdown()
        server.server_close()
    assert [c["body"] for c in FakeGitHub.comments] == ["an unrelated review comment", f"{MARKER}\nsecond"]


@pytest.mark.integration
def test_reduced_rerun_compares_like_for_like(two_commits, tmp_path):
    project = two_commits
    preset = tmp_path / "reduced.yaml"
    preset.write_text("train:\n  epochs: 1\n")
    run_in(project, "python", "-m", "pipeline", "report", "--base", "HEAD~1", "--reduced", str(preset))
    report = (project / "reports/pr/report.md").read_text()
    assert "`refs/lenet/reduced-change` vs `refs/lenet/reduced-base`" in report
    base_params = yaml.safe_load(run_in(project, "git", "show", "HEAD~1:params.yaml").stdout)
    assert f"| `train.learning_rate` | `{base_params['train']['learning_rate']}` | `0.01` |" in report
    assert "train.epochs" not in report  # both sides ran the preset's single epoch
    assert (project / "reports/pr/images/digits-curves.png").is_file()
    assert "worktree" not in run_in(project, "git", "worktree", "list").stdout.split("\n", 1)[-1]
    assert run_in(project, "git", "status", "--porcelain", "params.yaml").stdout == ""  # untouched

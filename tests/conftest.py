from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.synthetic import ROOT, tiny_params, write_mirror


@pytest.fixture
def mirror(tmp_path) -> tuple[Path, dict]:
    """A folder mirror with one tiny dataset `digits`, and that dataset's catalog entry."""
    root = tmp_path / "mirror"
    return root, write_mirror(root, "digits")


@pytest.fixture
def http_mirror(mirror):
    """The mirror served by a real HTTP server on a free loopback port."""
    root, entry = mirror
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root, entry
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def params_file(tmp_path, mirror) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(tiny_params({"digits": mirror[1]}), sort_keys=False))
    return path


def run_in(project: Path, *command: str, check: bool = True):
    """Run a command in `project` with this interpreter's environment first on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def tiny_project(tmp_path, mirror, params_file, monkeypatch) -> Path:
    """A real git + DVC repository holding this project's pipeline, set up for the tiny dataset."""
    monkeypatch.setenv("LENET_DATA_MIRROR", f"file://{mirror[0]}")
    return make_tiny_project(tmp_path / "project", yaml.safe_load(params_file.read_text()))


def make_tiny_project(project: Path, params: dict) -> Path:
    """Copy the pipeline into `project`, with `params`, as a committed git + DVC repository.

    Needs LENET_DATA_MIRROR to point at the params' data (the reference profile is built from it).
    """
    project.mkdir()
    shutil.copytree(ROOT / "pipeline", project / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".gitignore", "prefect.toml", "tune/dvc.yaml"):
        (project / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, project / name)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_in(project, "git", "init", "-q", "-b", "main")
    run_in(project, "git", "config", "user.email", "tests@example.invalid")
    run_in(project, "git", "config", "user.name", "tests")
    run_in(project, "dvc", "init", "-q")
    run_in(project, "dvc", "config", "core.analytics", "false")
    build_reference_profile(project, next(iter(params["datasets"])))
    run_in(project, "git", "add", "-A")
    run_in(project, "git", "commit", "-q", "-m", "tiny project")
    return project


def build_reference_profile(project: Path, dataset: str) -> None:
    """suites/<dataset>.profile.json from the (clean) mirror, as a maintainer would, once."""
    run_in(project, "python", "-m", "pipeline", "download", "--dataset", dataset)
    run_in(project, "python", "-m", "pipeline", "profile", "--dataset", dataset)
    shutil.rmtree(project / "data")


def chromium_dom(page: Path, profile: Path, *extra: str) -> str:
    """The DOM of a local page after Debian's headless Chromium rendered it (`make test` installs
    chromium); flags as this machine needs them: no sandbox as root, no background networking."""
    assert shutil.which("chromium"), "needs Debian's chromium package (`make test` installs it)"
    return subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}", *extra,
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout

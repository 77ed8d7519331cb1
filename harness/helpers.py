"""Helpers for tests: templates built once per run, real servers (Prefect's REST API, a
no-internet sentinel, a webhook receiver) and pages in headless Chromium."""

from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from filelock import FileLock

from pipeline.core import workspace


def built_once(tmp_path_factory, worker_id: str, name: str, build) -> Path:
    """The folder `name`, made by build(folder) once per test run: with pytest-xdist, the first
    worker to ask builds it and the others wait for it (a file lock in the run's shared folder)."""
    if worker_id == "master":  # no xdist
        return build(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent  # this run's folder, above every worker's
    folder, done = shared / name, shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed build left behind
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def start_group(cwd: Path, *command: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`command` in its own process group (a kill or a stop takes its children too), with `env`
    (default: this process's) and this environment's bin/ first on PATH, stdout and stderr
    merged into one text pipe."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=workspace.environment(env),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def read_until(process: subprocess.Popen, marker: str, times: int = 1) -> str:
    """What `process` prints up to the line where `marker` has appeared `times` times (an epoch
    or stage marker: no sleeping on timing); fails with the output if the process ends first."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        times -= marker in line
        if not times:
            return "".join(seen)
    raise AssertionError(f"{marker!r} never printed:\n" + "".join(seen)[-3000:])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api(url: str, path: str, body: dict | None = None, auth: str | None = None,
        method: str | None = None):
    """POST (with a body) or GET (or `method`) one Prefect REST endpoint, with basic auth
    `user:password` if given, else PREFECT_API_AUTH_STRING's if set (as Prefect's client); returns
    the decoded JSON (None for an empty answer)."""
    auth = auth or os.environ.get("PREFECT_API_AUTH_STRING")
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    request = urllib.request.Request(
        f"{url}{path}", data=data, method=method or ("POST" if data else "GET"), headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = response.read()
    return json.loads(answer) if answer else None


def flow_runs(url: str, flow_name: str) -> list[dict]:
    return api(
        url,
        "/flow_runs/filter",
        {"flows": {"name": {"any_": [flow_name]}}, "sort": "EXPECTED_START_TIME_DESC"},
    )


def task_runs(url: str, flow_run_id: str) -> list[dict]:
    return api(url, "/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})


def wait_for(predicate, timeout: float, what: str, every: float = 1.0):
    """predicate()'s first truthy value, asked every `every` seconds (a predicate that starts a
    process, like `dvc queue status`, costs CPU the thing waited for needs: ask it less often)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def stop_session(process: subprocess.Popen, grace: float = 10) -> None:
    """Stop the process group we started (start_new_session=True) as its operator would: SIGTERM,
    and if it is still up after `grace` seconds, SIGTERM again, which a Prefect worker or server
    turns into SIGKILL (Prefect's own escalation). A Prefect worker now and then lets the first
    one pass and keeps serving; it ends within 2 s of one it heeds. SIGKILL if neither ended it."""
    for stop in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, stop)
        except ProcessLookupError:  # the group ended between the wait and this signal
            process.wait()
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            pass
    raise AssertionError(f"process group {process.pid} outlived SIGKILL by {grace:.0f} s")


class LoopbackServer:
    """An HTTP server on a free 127.0.0.1 port, served from a thread; close() (or leaving a `with`
    block) stops it."""

    def __init__(self, handler, path: str = ""):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Sentinel(LoopbackServer):
    """An HTTP(S) proxy on 127.0.0.1 that refuses everything and remembers who asked.

    With HTTP(S)_PROXY pointing here and NO_PROXY covering loopback, any attempt by the code
    under test to reach the internet lands in `requests` instead of leaving the machine.
    """

    def __init__(self):
        self.requests: list[str] = []
        sentinel = self

        class Handler(QuietHandler):
            def _refuse(self):
                sentinel.requests.append(f"{self.command} {self.path}")
                self.send_error(403, "no internet in tests")

            do_GET = do_POST = do_PUT = do_HEAD = do_CONNECT = _refuse

        super().__init__(Handler)


class Receiver(LoopbackServer):
    """A webhook receiver on 127.0.0.1 that keeps every JSON body posted to it."""

    def __init__(self):
        self.bodies: list[dict] = []
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self):
                receiver.bodies.append(
                    json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                )
                self.send_response(204)
                self.end_headers()

        super().__init__(Handler, "/hook")


def chromium_dom(page: Path | str, profile: Path, *extra: str) -> str:
    """The DOM of a local page (a file, or a URL on loopback) after Debian's headless Chromium
    rendered it (`make test` installs chromium); flags as this machine needs them: no sandbox as
    root, no background networking."""
    assert shutil.which("chromium"), "needs Debian's chromium package (`make test` installs it)"
    return subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *extra,
            "--dump-dom",
            page.as_uri() if isinstance(page, Path) else page,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


# Chromium's own services (component updates, sign-in, network time): the browser contacts them
# whatever page it opens, despite --disable-background-networking. Refused like everything else,
# but not the page's requests.
# Chromium 150 (Debian 12) also opens www.google.com at start (seen with an empty local page) and,
# now and then, android.clients.google.com: Google's own domains are the browser's, never a page's
# (the pages' CDNs are jsdelivr, unpkg, cdnjs, bootstrapcdn and jquery).
BROWSER_SERVICE_DOMAINS = ("google.com", "googleapis.com", "gvt1.com")


def browser_service(host: str) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in BROWSER_SERVICE_DOMAINS)


def requested_host(request: str) -> str:
    """'CONNECT host:443' or 'GET http://host/path' -> host."""
    target = request.split(" ", 1)[1]
    return target.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]


def chromium_offline(
    page: Path, screenshot: Path, window: str = "1280,1600"
) -> tuple[str, list[str]]:
    """(DOM after rendering, every request of the page that tried to leave the machine) for a local
    page opened with the network refused: all HTTP(S) goes to a Sentinel proxy (which records and
    refuses it), no other host name resolves. Saves a screenshot of the first `window` pixels."""
    sentinel = Sentinel()
    try:
        dom = chromium_dom(
            page,
            screenshot.parent / "chromium-profile",
            f"--proxy-server={sentinel.url}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=10000",
            f"--window-size={window}",
            f"--screenshot={screenshot}",
        )
    finally:
        sentinel.close()
    return dom, [r for r in sentinel.requests if not browser_service(requested_host(r))]


DEMO_ASSETS = Path(__file__).resolve().parents[1] / "tools" / "demo-assets"


def page_input_payload(pictures: list[Path]) -> list[dict]:
    """Each picture's RGBA pixels as the page gets them from a canvas (base64), for lenetInput."""
    import base64

    import numpy as np
    from PIL import Image

    payload = []
    for picture in pictures:
        rgba = np.asarray(Image.open(picture).convert("RGBA"))
        payload.append(
            {
                "rgba": base64.b64encode(rgba.tobytes()).decode(),
                "width": rgba.shape[1],
                "height": rgba.shape[0],
            }
        )
    return payload


def drive_demo(
    project: Path, pictures: list[Path], out: Path, screenshot: Path | None = None
) -> dict:
    """Serve `lenet demo` from `project` on a free 127.0.0.1 port and drive the page in headless
    Chromium (tools/demo-assets/drive-page.mjs): the strip, a drawn "1", the page's 28x28 input
    for each of `pictures`, the requests it tried to send elsewhere. Stops the server after."""
    served = start_group(project, "lenet", "demo", "--port", "0")
    try:
        url = read_until(served, "demo: http://").rsplit("demo: ", 1)[1].split()[0]
        subprocess.run(
            [
                "node",
                str(DEMO_ASSETS / "drive-page.mjs"),
                url,
                str(out),
                *([str(screenshot)] if screenshot else []),
            ],
            input=json.dumps(page_input_payload(pictures)),
            text=True,
            check=True,
            timeout=300,
        )
        return json.loads(out.read_text())
    finally:
        stop_session(served)

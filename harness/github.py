"""A stand-in for GitHub's REST API on 127.0.0.1, for tests of the report's comment: the endpoints
pipeline.report.github calls (list, create and update a pull request's comments; get a pull
request), one repository's worth, kept in memory, with failures on order.

    with FakeGitHub(pulls={7: head("feature")}) as github:
        env = {"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": REPO, "GITHUB_TOKEN": TOKEN}
        github.fail("POST", 403, {"message": "Resource not accessible by integration"})
        ...
        github.reset()  # empty again, for the next test (a server takes half a second to stop)

It stands in for GitHub only: the project's code runs for real against it.
"""

from __future__ import annotations

import http.server
import json
import re
import urllib.parse
from typing import Self

from harness.helpers import LoopbackServer

REPO = "octo/lenet"
TOKEN = "t0ken"


def head(branch: str, sha: str = "a" * 40, repo: str = REPO) -> dict:
    """A pull request's `head` as GitHub's API gives it."""
    return {"sha": sha, "ref": branch, "repo": {"full_name": repo}}


class FakeGitHub:
    """`pulls`: {number: head(...)}. After the `with` block: `comments` (each {"id", "issue",
    "body"}), `requests` (each (method, path)), what the code under test did."""

    def __init__(self, pulls: dict[int, dict] | None = None):
        self.reset(pulls)

    def reset(self, pulls: dict[int, dict] | None = None) -> None:
        """No comments, requests or failures; these pull requests."""
        self.pulls = dict(pulls or {})
        self.comments: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        self.failures: dict[str, tuple[int, dict, dict]] = {}

    def fail(self, method: str, status: int, body: dict, headers: dict | None = None) -> None:
        """Answer every later `method` request with this error."""
        self.failures[method] = (status, body, headers or {})

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] in ("POST", "PATCH")]

    def __enter__(self) -> Self:
        self.loopback = LoopbackServer(_Handler)
        self.loopback.server.github = self
        self.url = self.loopback.url
        return self

    def __exit__(self, *exc) -> None:
        self.loopback.close()

    def answer(self, method: str, path: str, body: dict | None) -> tuple[int, object, dict]:
        """(status, JSON payload, headers) for one request, as GitHub would answer it."""
        if method in self.failures:
            return self.failures[method]
        url = urllib.parse.urlsplit(path)
        query = {k: int(v[0]) for k, v in urllib.parse.parse_qs(url.query).items()}
        prefix = f"/repos/{REPO}"
        route = url.path.removeprefix(prefix) if url.path.startswith(prefix + "/") else ""
        if method == "GET" and (match := re.fullmatch(r"/issues/(\d+)/comments", route)):
            mine = [c for c in self.comments if c["issue"] == int(match[1])]
            size, page = query.get("per_page", 30), query.get("page", 1)
            return 200, mine[(page - 1) * size: page * size], {}
        if method == "POST" and (match := re.fullmatch(r"/issues/(\d+)/comments", route)):
            self.comments.append({"id": len(self.comments) + 1, "issue": int(match[1]),
                                  "body": body["body"]})
            return 201, self.comments[-1], {}
        if method == "PATCH" and (match := re.fullmatch(r"/issues/comments/(\d+)", route)):
            found = [c for c in self.comments if c["id"] == int(match[1])]
            if found:
                found[0]["body"] = body["body"]
                return 200, found[0], {}
        match = re.fullmatch(r"/pulls/(\d+)", route)
        if method == "GET" and match and int(match[1]) in self.pulls:
            return 200, {"number": int(match[1]), "head": self.pulls[int(match[1])]}, {}
        return 404, {"message": "Not Found"}, {}


class _Handler(http.server.BaseHTTPRequestHandler):
    def _serve(self):
        github: FakeGitHub = self.server.github
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        github.requests.append((self.command, self.path))
        if self.headers["Authorization"] != f"Bearer {TOKEN}":
            status, payload, headers = 401, {"message": "Bad credentials"}, {}
        else:
            status, payload, headers = github.answer(self.command, self.path, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _serve

    def log_message(self, *args):
        pass

"""The report as one pull-request comment, created once and updated on later pushes."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

from pipeline.core.errors import PipelineError

MARKER = "<!-- lenet-pipeline-report -->"
PAGE = 100


class CommentError(PipelineError):
    """The comment cannot be posted from here (not a pull-request run of GitHub Actions)."""


def post_comment(markdown: str, repo: str, number: int, token: str,
                 api: str = "https://api.github.com") -> str:
    """Create the report comment on the pull request, or update the one posted before."""
    def call(method: str, path: str, payload: dict | None = None):
        request = urllib.request.Request(
            f"{api}{path}", method=method,
            data=None if payload is None else json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    mine, page = [], 1
    while not mine:  # GitHub returns at most 100 comments a page
        comments = call("GET", f"/repos/{repo}/issues/{number}/comments?per_page={PAGE}&page={page}")
        mine = [c for c in comments if MARKER in (c.get("body") or "")]
        if len(comments) < PAGE:
            break
        page += 1
    if mine:
        call("PATCH", f"/repos/{repo}/issues/comments/{mine[0]['id']}", {"body": markdown})
        return "updated"
    call("POST", f"/repos/{repo}/issues/{number}/comments", {"body": markdown})
    return "created"


def pull_request_from_env() -> tuple[str, int, str, str]:
    """(repo, PR number, token, API URL) from GitHub Actions' environment."""
    try:
        repo, token = os.environ["GITHUB_REPOSITORY"], os.environ["GITHUB_TOKEN"]
        event = json.loads(Path(os.environ["GITHUB_EVENT_PATH"]).read_text())
        number = int(event["pull_request"]["number"])
    except (KeyError, OSError, ValueError) as error:
        raise CommentError(f"--post-comment needs a pull_request event in GitHub Actions ({error})") from None
    return repo, number, token, os.environ.get("GITHUB_API_URL", "https://api.github.com")

"""GitHub's side of the report: the one pull-request comment (created once, updated on later
pushes, found by its hidden marker), the run's summary page, and the pull request's number kept
in the report's folder for the comment workflow.

Every failure of GitHub's REST API is an ApiError with a one-line message (status, what was
asked, GitHub's reason, and for a rate limit when to retry), never a traceback.

Standard library only, with pipeline.core.errors: pipeline.report.comment runs on a bare Python.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipeline.core.errors import PipelineError

MARKER = "<!-- lenet-pipeline-report -->"
PAGE = 100
# The pull request's number, beside report.md: the comment workflow reads it from the artifact
# (a fork's workflow_run event names no pull request).
NUMBER_FILE = "pr-number.txt"
COMMENT_FILE = "report.md"  # the comment's markdown, in the report's folder and the artifact
COMMENT_LIMIT = 65536  # characters: GitHub refuses a longer comment body (422)
SUMMARY_LIMIT = 1024 * 1024  # bytes: GitHub drops a longer step summary whole
DEFAULT_API = "https://api.github.com"
REASONS = {403: "no permission", 404: "not found (or not visible to this token)",
           422: "refused as invalid"}


class CommentError(PipelineError):
    """The comment cannot be posted: no pull request or token to post with, or GitHub refused."""


class ApiError(CommentError):
    """GitHub's REST API answered with an error, or could not be reached (status None)."""

    def __init__(self, message: str, status: int | None = None, rate_limited: bool = False):
        super().__init__(message)
        self.status = status
        self.rate_limited = rate_limited

    @property
    def forbidden(self) -> bool:
        """A 403 that is not a rate limit: this token may not do that."""
        return self.status == 403 and not self.rate_limited


def api_url() -> str:
    """GitHub's REST API: GITHUB_API_URL, which GitHub Actions sets (GitHub Enterprise too)."""
    return os.environ.get("GITHUB_API_URL") or DEFAULT_API


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(body: bytes) -> str:
    """GitHub's own words from an error body: its message, and the first validation error."""
    try:
        payload = json.loads(body)
    except ValueError:
        return _one_line(body.decode("utf-8", "replace"))
    if not isinstance(payload, dict):
        return ""
    errors = payload.get("errors")
    detail = errors[0] if isinstance(errors, list) and errors else None
    if isinstance(detail, dict):
        detail = detail.get("message") or detail.get("code")
    return _one_line(": ".join(str(part) for part in (payload.get("message"), detail) if part))


def _rate_limit(code: int, headers) -> str | None:
    """For a rate-limited answer (429, or 403 with GitHub's rate-limit headers): "rate limited",
    with when to retry (Retry-After, else X-RateLimit-Reset) where GitHub says; else None."""
    exhausted = headers.get("X-RateLimit-Remaining") == "0"
    if code not in (403, 429) or (code == 403 and not exhausted and not headers.get("Retry-After")):
        return None
    if headers.get("Retry-After"):
        return f"rate limited, retry after {_one_line(headers['Retry-After'], 40)} s"
    if exhausted and headers.get("X-RateLimit-Reset", "").isdigit():
        reset = time.gmtime(int(headers["X-RateLimit-Reset"]))
        return f"rate limited until {time.strftime('%H:%M:%S UTC', reset)}"
    return "rate limited"


def api_error(error: urllib.error.HTTPError, method: str, path: str) -> ApiError:
    """The one-line ApiError for an HTTP error answer."""
    limited = _rate_limit(error.code, error.headers)
    what = limited or REASONS.get(error.code, _one_line(str(error.reason), 60))
    reason = _reason(error.read())
    if reason and reason.lower() not in what.lower():
        what += f" ({reason})"
    return ApiError(f"GitHub API {error.code} on {method} {path.split('?')[0]}: {what}",
                    error.code, limited is not None)


def request(api: str, token: str, method: str, path: str, payload: dict | None = None):
    """One REST call; the decoded JSON answer, or ApiError."""
    call = urllib.request.Request(
        f"{api.rstrip('/')}{path}", method=method,
        data=None if payload is None else json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                 "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "lenet-pipeline-report"},
    )
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        raise api_error(error, method, path) from None
    except (OSError, ValueError, http.client.HTTPException) as error:  # unreachable, or not JSON
        reason = _one_line(str(getattr(error, "reason", error)))
        raise ApiError(f"GitHub API at {api} on {method} {path.split('?')[0]}: {reason}") from None


def post_comment(markdown: str, repo: str, number: int, token: str, api: str = DEFAULT_API) -> str:
    """Create the report comment on the pull request, or update the one posted before (the first
    comment holding MARKER); returns "created" or "updated"."""
    mine, page = [], 1
    while not mine:  # GitHub returns at most 100 comments a page
        comments = request(api, token, "GET",
                           f"/repos/{repo}/issues/{number}/comments?per_page={PAGE}&page={page}")
        mine = [c for c in comments if MARKER in (c.get("body") or "")]
        if len(comments) < PAGE:
            break
        page += 1
    if mine:
        request(
            api,
            token,
            "PATCH",
            f"/repos/{repo}/issues/comments/{mine[0]['id']}",
            {"body": markdown},
        )
        return "updated"
    request(api, token, "POST", f"/repos/{repo}/issues/{number}/comments", {"body": markdown})
    return "created"


def pull_request(repo: str, number: int, token: str, api: str = DEFAULT_API) -> dict:
    """The pull request as GitHub's API has it now (its head: repository, branch, commit)."""
    return request(api, token, "GET", f"/repos/{repo}/pulls/{number}")


def event() -> dict:
    """The event that started this GitHub Actions run (GITHUB_EVENT_PATH); {} outside Actions."""
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise CommentError(f"GITHUB_EVENT_PATH {path}: unreadable event ({error})") from None
    return payload if isinstance(payload, dict) else {}


def event_pull_request_number() -> int | None:
    """The pull request's number in a pull_request run of GitHub Actions, else None."""
    number = (event().get("pull_request") or {}).get("number")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def repository_and_token(purpose: str) -> tuple[str, str, str]:
    """(repo, token, API URL) from GitHub Actions' environment (GITHUB_REPOSITORY, GITHUB_TOKEN,
    GITHUB_API_URL); CommentError naming what is missing for `purpose`."""
    repo, token = os.environ.get("GITHUB_REPOSITORY"), os.environ.get("GITHUB_TOKEN")
    missing = [
        name
        for name, value in (
            ("GITHUB_REPOSITORY (GitHub Actions sets it)", repo),
            ("GITHUB_TOKEN (the step's env: secrets.GITHUB_TOKEN)", token),
        )
        if not value
    ]
    if missing:
        raise CommentError(f"{purpose} needs " + " and ".join(missing))
    return repo, token, api_url()


def pull_request_from_env() -> tuple[str, int, str, str]:
    """(repo, PR number, token, API URL) for --post-comment, from GitHub Actions' environment."""
    number = event_pull_request_number()
    if number is None:
        raise CommentError("--post-comment needs a pull_request event of GitHub Actions "
                           "(GITHUB_EVENT_PATH)")
    repo, token, api = repository_and_token("--post-comment")
    return repo, number, token, api


def write_step_summary(markdown: str) -> None:
    """Append the report to this step's summary (GITHUB_STEP_SUMMARY), shown on the run's page
    for every pull request, a fork's too, with no token. One over GitHub's 1 MiB would be dropped
    whole: a pointer to the artifact goes there instead. Nothing outside GitHub Actions."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    if len(markdown.encode()) > SUMMARY_LIMIT:
        markdown = ("The report is over GitHub's 1 MiB summary limit: see `report.md` in the "
                    "`metrics-report` artifact of this run.\n")
    with open(path, "a", encoding="utf-8") as summary:
        summary.write(markdown)

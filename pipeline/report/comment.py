"""The comment workflow's script: post or update the report comment from the artifact of the
pull-request run that triggered it (.github/workflows/pr-comment.yml, on workflow_run).

    python -m pipeline.report.comment ARTIFACT_FOLDER

That workflow may write to the pull request and never runs the pull request's code; the artifact
was written by that code, so all of it is untrusted input, read as data and checked:
- pr-number.txt must hold one decimal number, and that pull request's head commit (GitHub's API)
  must be the one the triggering run tested (the event's workflow_run.head_sha, GitHub's word):
  a fork's workflow_run event names no pull request, so the number has to come from the artifact;
- report.md must be UTF-8 text of at most 65,536 characters (GitHub's limit for a comment) that
  starts with the report's marker; it is posted as the comment's text, nothing else.
Anything else is refused with one line and nothing is posted. A pull request that has moved on
to a newer commit since the run is left to that commit's run (a notice, not a failure), and so is
a run that stopped before it wrote a report (no artifact).

Environment (GitHub Actions sets all but the token): GITHUB_EVENT_PATH (the workflow_run event),
GITHUB_REPOSITORY, GITHUB_API_URL, GITHUB_TOKEN.

Standard library only (with pipeline.report.github and pipeline.core.errors): the workflow
installs nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.report import github

NUMBER = re.compile(r"[1-9][0-9]{0,9}\n?")  # the whole of pr-number.txt, as the report writes it
SHA = re.compile(r"[0-9a-f]{40}")
UTF8_MAX = 4  # bytes per character


class UntrustedInput(PipelineError):
    """The artifact is not what the report writes, or names another pull request: not posted."""


@dataclass(frozen=True)
class TestedRun:
    """What the triggering pull-request run tested, from the workflow_run event (not the
    artifact)."""

    head_sha: str
    head_repository: str | None
    head_branch: str | None


def tested_run(event: dict) -> TestedRun:
    run = event.get("workflow_run")
    if not isinstance(run, dict) or run.get("event") != "pull_request":
        raise github.CommentError("needs the workflow_run event of a pull_request run "
                                  "(GITHUB_EVENT_PATH)")
    sha = run.get("head_sha")
    if not isinstance(sha, str) or not SHA.fullmatch(sha):
        raise github.CommentError("the workflow_run event has no head_sha")
    return TestedRun(
        sha, (run.get("head_repository") or {}).get("full_name"), run.get("head_branch")
    )


def read_limited(path: Path, limit: int) -> bytes:
    """A plain file of the artifact (no link), refused past `limit` bytes unread."""
    if path.is_symlink() or not path.is_file():
        raise UntrustedInput(f"{path.name}: not in the artifact as a plain file")
    with path.open("rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise UntrustedInput(f"{path.name}: over {limit} bytes")
    return data


def read_number(folder: Path) -> int:
    text = read_limited(folder / github.NUMBER_FILE, 16).decode("ascii", "replace")
    if not NUMBER.fullmatch(text):
        raise UntrustedInput(f"{github.NUMBER_FILE}: {text[:20]!r} is not a pull-request number")
    return int(text)


def read_body(folder: Path) -> str:
    limit = github.COMMENT_LIMIT
    data = read_limited(folder / github.COMMENT_FILE, UTF8_MAX * limit)
    try:
        body = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UntrustedInput(f"{github.COMMENT_FILE}: not UTF-8 text") from None
    if len(body) > limit:
        raise UntrustedInput(f"{github.COMMENT_FILE}: {len(body)} characters, over GitHub's "
                             f"{limit} for a comment")
    if not body.startswith(github.MARKER):
        raise UntrustedInput(f"{github.COMMENT_FILE}: no report marker on its first line")
    return body


def moved_on(pull: dict, run: TestedRun, number: int) -> str | None:
    """None when the pull request's head is the commit the run tested. A notice when its head is
    a newer commit of the same branch (that commit's run posts its own report). UntrustedInput
    when it is another branch: the artifact named another pull request."""
    head = pull.get("head") or {}
    if head.get("sha") == run.head_sha:
        return None
    now = str(head.get("sha"))[:12]
    same_branch = ((head.get("repo") or {}).get("full_name"), head.get("ref")) == (
        run.head_repository, run.head_branch)
    if same_branch and run.head_repository and run.head_branch:
        return (f"pull request #{number} has moved on to {now} since the run tested "
                f"{run.head_sha[:12]}: not posted (the newer commit's run posts its report)")
    raise UntrustedInput(f"pull request #{number}'s head is {now}, not {run.head_sha[:12]} that "
                         "the run tested: the artifact names another pull request; not posted")


def post(folder: Path) -> str:
    """Check the artifact in `folder` against the event and GitHub, then create or update the
    comment; returns what happened, as one line."""
    run = tested_run(github.event())
    if not folder.exists():
        return ("no report artifact: the run stopped before it wrote a report (its log says why); "
                "nothing posted")
    number, body = read_number(folder), read_body(folder)
    repo, token, api = github.repository_and_token("posting the comment")
    notice = moved_on(github.pull_request(repo, number, token, api), run, number)
    if notice:
        return notice
    posted = github.post_comment(body, repo, number, token, api)
    return f"pull request #{number}: report comment {posted}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.report.comment",
        description="Post or update the report comment from a pull-request run's artifact "
                    "(the comment workflow, on workflow_run).")
    parser.add_argument("artifact", type=Path, help="the folder the metrics-report artifact was "
                        "downloaded to (outside the checkout)")
    args = parser.parse_args(argv)
    try:
        print(post(args.artifact))
    except (PipelineError, OSError) as error:  # OSError: the artifact folder cannot be read
        hint = ("; this job needs `permissions: pull-requests: write`"
                if isinstance(error, github.ApiError) and error.forbidden else "")
        print(f"error: comment: {error}{hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

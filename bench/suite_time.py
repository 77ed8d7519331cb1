"""What the README's `make test` costs from a fresh clone, with each interpreter named.

    python -m bench.suite_time                                        # make's default: python3
    python -m bench.suite_time --python python3 --python /usr/bin/python3.11 --rounds 2

Each round clones HEAD afresh for each interpreter in turn (the interpreters alternate, so that
the machine's drift reaches both), runs `make install chromium postgres PYTHON=<interpreter>`
(timed apart: set-up), then `make test`, timed: its wall seconds and the CPU seconds of the
processes it waited for, directly or through their parents (as `/usr/bin/time` counts them: a
server left to run on its own, such as PostgreSQL, is not counted). The tests' outcomes come from
pytest's JUnit XML. Writes bench/results/suite_time.json with the CPU it ran on; docgen puts it in
docs/ci.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

from bench.common import ROOT, newcomer_env, suite_time_file
from pipeline.core import workspace
from pipeline.runtime import machine

DESCRIBE = ("import json, platform, sys; print(json.dumps({'version': platform.python_version(), "
            "'executable': sys.executable}))")


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def interpreter(python: str, env: dict[str, str]) -> dict:
    """The interpreter's version and path; a clear error where it does not run."""
    try:
        found = subprocess.run([python, "-c", DESCRIBE], env=env, capture_output=True, text=True,
                               check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit(f"--python {python}: cannot run it ({error})") from None
    return json.loads(found.stdout)


def outcomes(junit: Path) -> dict[str, int]:
    """Tests run, failed (failures and errors) and skipped, from pytest's JUnit XML: the counts of
    its <testsuite> elements, which count each subtest as a test."""
    count = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite in ElementTree.parse(junit).getroot().iter("testsuite"):
        for key in count:
            count[key] += int(suite.get(key, 0))
    return {"tests": count["tests"], "failed": count["failures"] + count["errors"],
            "skipped": count["skipped"]}


def measure(python: str, scratch: Path, env: dict[str, str]) -> dict:
    """One fresh clone of HEAD: install with `python` (and make's system packages), then
    `make test`. Returns seconds, CPU seconds, make's exit code and the tests' outcomes. Not
    workspace.run: that puts this checkout's .venv first on PATH, and the clone must build and
    use its own, as a newcomer's would."""
    clone = scratch / "lenet"
    workspace.run("git", "clone", "-q", str(ROOT), str(clone), cwd=ROOT)
    setup = ["make", "install", "chromium", "postgres", f"PYTHON={python}"]
    print("$", " ".join(setup), flush=True)
    started = time.perf_counter()
    if subprocess.run(setup, cwd=clone, env=env, check=False,
                      stdout=subprocess.DEVNULL).returncode:
        raise SystemExit(f"{' '.join(setup)} failed in a fresh clone (its errors are above)")
    install = time.perf_counter() - started
    junit = scratch / "junit.xml"
    test_env = {**env, "PYTEST_ADDOPTS": f"--junitxml={shlex.quote(str(junit))}"}
    print("$ make test", flush=True)
    cpu, started = children_cpu(), time.perf_counter()
    code = subprocess.run(["make", "test"], cwd=clone, env=test_env, check=False).returncode
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu
    return {"install_s": round(install, 1), "test_s": round(wall, 1), "test_cpu_s": round(cpu, 1),
            "exit_code": code, **(outcomes(junit) if junit.is_file() else {})}


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__,
                                  formatter_class=argparse.RawTextHelpFormatter)
    cli.add_argument("--python", action="append", metavar="INTERPRETER",
                     help="build the clone's .venv with it (make's PYTHON); repeat to compare "
                          "(default: python3)")
    cli.add_argument("--rounds", type=int, default=1, help="runs per interpreter (default 1)")
    args = cli.parse_args()
    pythons = args.python or ["python3"]
    if args.rounds < 1:
        cli.error(f"--rounds {args.rounds}: at least 1")
    # nothing of this shell's that would change what is measured: make test's own options only
    env = newcomer_env("PYTHON", "PYTEST_ADDOPTS", "TEST_WORKERS")
    described = {python: interpreter(python, env) for python in pythons}  # checked first
    commit = workspace.run("git", "rev-parse", "HEAD", cwd=ROOT).stdout.strip()
    runs = []
    for round_ in range(1, args.rounds + 1):
        for python in pythons:
            print(f"round {round_}/{args.rounds}, {python}:", flush=True)
            with tempfile.TemporaryDirectory(prefix="lenet-suite-") as scratch:
                # the interpreter checked above, by its path: the clone may resolve a name
                # otherwise (a pyenv shim reads the folder's .python-version)
                run = {"python": python, **described[python],
                       **measure(described[python]["executable"], Path(scratch), env)}
            runs.append(run)
            print(f"  make test: {run['test_s']:.0f} s, {run['test_cpu_s']:.0f} CPU-s, "
                  f"exit code {run['exit_code']} (Python {run['version']}, {run['executable']})",
                  flush=True)
    results = {"command": "python -m bench.suite_time " + " ".join(sys.argv[1:]),
               "commit": commit, "cpu": machine.cpu(), "runs": runs}
    target = suite_time_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0 if all(run["exit_code"] == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())

"""What a newcomer's `make repro` costs: a fresh clone of HEAD, then the README's command, timed.

    python -m bench.fresh_clone            # pip's and npm's caches as this machine has them
    python -m bench.fresh_clone --cold     # empty pip and npm caches: every package downloaded

The clone gets nothing of this checkout's (no .venv, no DVC cache, no data): `make repro` creates
the environment (`make install`: pip, then `lenet assets`' npm installs), downloads both datasets
(from LENET_DATA_MIRROR where it is set, as in this project's CI, else from the mirrors in
params.yaml) and runs every stage. Install and pipeline are timed apart, and the clone's
`git status` must be clean afterwards (the committed results reproduced; a difference is printed
and fails the run). Writes bench/results/fresh_clone-<warm|cold>.json with the CPU it ran on;
docgen puts it in README's quick start.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, fresh_clone_file, newcomer_env
from pipeline.core import workspace
from pipeline.runtime import machine


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds `command` took. Not workspace.run: that puts this checkout's .venv first on PATH,
    and the clone must build and use its own, as a newcomer's would."""
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True)
    return time.perf_counter() - started


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__,
                                  formatter_class=argparse.RawTextHelpFormatter)
    cli.add_argument("--cold", action="store_true",
                     help="empty pip and npm caches (downloads every package)")
    args = cli.parse_args()
    kind = "cold" if args.cold else "warm"
    commit = workspace.run("git", "rev-parse", "HEAD", cwd=ROOT).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="lenet-fresh-") as scratch:
        clone = Path(scratch) / "lenet"
        workspace.run("git", "clone", "-q", str(ROOT), str(clone), cwd=ROOT)
        env = newcomer_env()
        if args.cold:
            env["PIP_NO_CACHE_DIR"] = "1"
            env["npm_config_cache"] = str(Path(scratch) / "npm-cache")
        install = timed(["make", "install"], clone, env)
        repro = timed(["make", "repro"], clone, env)
        status = workspace.run("git", "status", "--porcelain", cwd=clone).stdout
        shutil.rmtree(clone / ".venv", ignore_errors=True)
    results = {
        "kind": kind, "commit": commit, "cpu": machine.cpu(),
        "install_s": round(install, 1), "repro_s": round(repro, 1),
        "total_s": round(install + repro, 1),
        "data_mirror": os.environ.get("LENET_DATA_MIRROR"),
        "clean": not status,
    }
    target = fresh_clone_file(kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")
    print(f"fresh clone, {kind} caches: install {install / 60:.1f} min, make repro's pipeline "
          f"{repro / 60:.1f} min, {(install + repro) / 60:.1f} min in all")
    if status:
        print(f"git status after make repro is not clean:\n{status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What Prefect costs on top of DVC: server start-up, and a flow run vs `dvc repro` on tiny data.

    python -m bench.flow_overhead

Builds two identical tiny projects (the tests' synthetic dataset), runs `dvc repro` in one and
the Prefect flow in the other against a fresh local server, and prints the times and their ratio.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness.helpers import free_port
from harness.synthetic import make_tiny_project, run_in, tiny_params, write_mirror
from pipeline.orchestration import server as orchestrate


def timed(project: Path, *command: str) -> float:
    start = time.perf_counter()
    run_in(project, *command)
    return time.perf_counter() - start


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="flow-overhead-"))
    entry = write_mirror(base / "mirror", "digits")
    os.environ["LENET_DATA_MIRROR"] = (base / "mirror").as_uri()
    plain = make_tiny_project(base / "plain", tiny_params({"digits": entry}), base / "mirror")
    flowed = make_tiny_project(base / "flow", tiny_params({"digits": entry}), base / "mirror")

    start = time.perf_counter()
    url = orchestrate.start_server(free_port(), state_dir=base / "prefect")
    server_start = time.perf_counter() - start
    os.environ["PREFECT_API_URL"] = url
    try:
        repro = timed(plain, "dvc", "repro")
        flow = timed(flowed, sys.executable, "-m", "pipeline", "flow")
        repro_noop = timed(plain, "dvc", "repro")
        flow_noop = timed(flowed, sys.executable, "-m", "pipeline", "flow")
    finally:
        orchestrate.stop_server(state_dir=base / "prefect")
    print(f"prefect server start (new SQLite database): {server_start:.1f} s")
    print(f"tiny pipeline, all 6 stages run:  dvc repro {repro:.1f} s, Prefect flow {flow:.1f} s "
          f"({flow / repro:.2f}x)")
    print(
        f"tiny pipeline, nothing to do:     dvc repro {repro_noop:.1f} s, "
        f"Prefect flow {flow_noop:.1f} s "
        f"({flow_noop / repro_noop:.2f}x)"
    )
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

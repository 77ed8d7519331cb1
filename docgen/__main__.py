"""python -m docgen [--check]: rewrite every generated block of README.md and docs/*.md, or name
the ones that differ from what their renderers write now."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import docgen
from docgen.results import latest_results
from docgen.writer import stale_blocks, update_docs
from pipeline.runtime import noise

ROOT = Path(__file__).resolve().parents[1]


def main(root: Path = ROOT) -> int:
    cli = argparse.ArgumentParser(
        prog="python -m docgen", description=docgen.__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    cli.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming every block that differs from its generator",
    )
    args = cli.parse_args()
    # TensorFlow's start-up lines, when the architecture block builds the model
    noise.drop_native_noise()
    if args.check:
        stale = stale_blocks(root)
        for path, name, _, _ in stale:
            print(f"{path.relative_to(root)}: block {name} differs from its generator")
        return 1 if stale else 0
    for path in update_docs(root, latest_results(root)):
        print(f"rewrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""verify: retrain and re-evaluate the committed params.yaml in a scratch checkout, and compare
every output with what is committed: the hashes in dvc.lock and metrics/<dataset>.json byte for
byte.

The scratch checkout shares this repository's DVC cache: the committed downloads, validation
reports and preprocessed arrays are checked out from it (a stage runs again only where the cache
lacks its outputs), but train, evaluate and export always run (`--force --no-run-cache`): a
cached model would prove nothing. Where this machine cannot honour the reproducibility profile (a
GPU, a CPU without the profile's instruction set, a CPU of another vendor than the one the committed
model card names: oneDNN runs other kernels there) identical bytes are not expected, and test
accuracy within `reproducibility.accuracy_band` of the committed number passes instead. Where it
can, any difference fails, with the test accuracy's change named.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.core import dag, workspace
from pipeline.core.config import flatten, parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.paths import DatasetPaths, ProjectPaths

RETRAINED_STAGES = ("train", "evaluate", "export")
log = logging.getLogger(__name__)


class VerifyError(PipelineError):
    """The committed state cannot be verified (nothing committed to compare with)."""


@dataclass
class Verdict:
    dataset: str
    status: str  # identical | within band | differs
    differences: list[str] = field(default_factory=list)  # the first differing numbers, then files
    profile_note: str = ""
    training: str = ""  # what the scratch run's train stage did: proof that it trained again
    inputs: str = ""  # where the scratch run's inputs came from: the cache, or which stages ran
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status != "differs"

    def line(self) -> str:
        text = (f"{self.dataset}: {self.status} ({self.training}; {self.inputs}; "
                f"{self.seconds:.0f}s in all; {self.profile_note})")
        return "\n".join([text, *(f"  {d}" for d in self.differences[:5])])


def metric_differences(committed: dict, fresh: dict) -> list[str]:
    old, new = flatten(committed), flatten(fresh)
    return [f"{key}: {old.get(key)} committed, {new.get(key)} now"
            for key in [*old, *(k for k in new if k not in old)] if old.get(key) != new.get(key)]


def output_differences(committed_lock: dict, fresh_lock: dict, stage: str) -> list[str]:
    def hashes(lock: dict) -> dict[str, str]:
        return {
            out["path"]: out.get("md5")
            for out in lock.get("stages", {}).get(stage, {}).get("outs", [])
        }

    old, new = hashes(committed_lock), hashes(fresh_lock)
    return [f"{path} ({stage}): md5 {old.get(path)} committed, {new.get(path)} now"
            for path in sorted(old.keys() | new.keys()) if old.get(path) != new.get(path)]


def restore_upstream(checkout: Path, stage: str) -> list[str]:
    """Bring `stage` and the stages before it up to date in a scratch checkout: their committed
    outputs checked out from the (shared) DVC cache, a stage run only where the cache lacks them.
    Returns the stages that were out of date (`dvc status`): run, or restored from the run cache.

    A plain `dvc repro` would find the outputs missing and run validate again: its report is not
    cached (git holds it), so DVC's run cache cannot restore that stage.
    """
    workspace.run("dvc", "checkout", "--with-deps", "--allow-missing", stage, cwd=checkout)
    rebuilt = dag.out_of_date(stage, checkout)
    workspace.run("dvc", "repro", stage, cwd=checkout)
    return rebuilt


@dataclass
class Retrained:
    """What the scratch checkout's train, evaluate and export stages wrote."""
    lock: dict  # the scratch checkout's dvc.lock
    metrics: dict  # its metrics/<dataset>.json
    facts: dict  # its reports/runtime/<dataset>/train.json: the train stage's own record
    rebuilt: list[str] = field(default_factory=list)  # input stages that were out of date
    seconds: float = 0.0


def retrain(name: str, scratch: Path) -> Retrained:
    """Train, evaluate and export `name` again in the scratch checkout, inputs from the cache."""
    started = time.perf_counter()
    log.info("%s: inputs, checked out from the DVC cache where it has them", name)
    rebuilt = restore_upstream(scratch, f"preprocess@{name}")
    for stage in RETRAINED_STAGES:
        log.info("%s: %s@%s, run again", name, stage, name)
        workspace.run(
            "dvc",
            "repro",
            "--force",
            "--no-run-cache",
            "--single-item",
            f"{stage}@{name}",
            cwd=scratch,
        )
    paths = DatasetPaths(name, root=scratch)
    try:  # written by the train stage itself, never restored from a cache
        facts = json.loads((paths.runtime / "train.json").read_text())
    except FileNotFoundError:
        raise VerifyError(f"train@{name} did not run in the scratch checkout") from None
    return Retrained(yaml.safe_load(ProjectPaths(scratch).dvc_lock.read_text()),
                     json.loads(paths.metrics.read_text()), facts, rebuilt,
                     time.perf_counter() - started)


def compare(name: str, fresh: Retrained, committed_lock: dict, committed_metrics: dict,
            band: float, committed_vendor: str | None) -> Verdict:
    """The verdict on `fresh` against the committed results. `committed_vendor`: the CPU vendor
    in the committed model card (None: a card from before vendors were recorded)."""
    differences = metric_differences(committed_metrics, fresh.metrics)
    for stage in RETRAINED_STAGES:
        differences += output_differences(committed_lock, fresh.lock, f"{stage}@{name}")
    change = abs(fresh.metrics["test"]["accuracy"] - committed_metrics["test"]["accuracy"])
    facts = fresh.facts
    vendor = facts["cpu"].get("vendor")
    same_vendor = committed_vendor in (None, vendor)
    vendor_note = (
        "" if same_vendor else f"committed from a {committed_vendor} CPU, this one is {vendor}"
    )
    status, note = judge(bool(differences), facts["profile_honoured"] and same_vendor, change, band)
    return Verdict(name, status, differences,
                   "; ".join(filter(None, [facts["profile_note"], vendor_note, note])),
                   f"trained again: {facts['epochs']} epochs in {facts['wall_seconds']:.0f}s",
                   f"inputs rebuilt: {', '.join(fresh.rebuilt)}" if fresh.rebuilt
                   else "inputs from the DVC cache", fresh.seconds)


def judge(differ: bool, honoured: bool, change: float, band: float) -> tuple[str, str]:
    """(status, note). Bytes that differ pass only where the machine cannot honour the profile and
    test accuracy moved by at most `band`. The change is named beside every difference, so that a
    reader can tell another CPU's rounding (small) from a broken pipeline or an edit (anything)."""
    if not differ:
        return "identical", ""
    note = f"test accuracy changed by {change:.4f}, band {band}"
    if not honoured:
        return ("within band" if change <= band else "differs"), note
    if change <= band:
        note += ("; CPUs of the committing vendor have so far retrained its bytes exactly: another "
                 "generation's rounding is possible, an edit or a bug more likely "
                 "(docs/reproducibility.md)")
    return "differs", note


def run(
    datasets: list[str] | None = None, revision: str = "HEAD", root: Path | None = None
) -> list[Verdict]:
    """Verify `datasets` (default: all of the committed params.yaml's) at `revision`."""
    root = (root or Path.cwd()).resolve()

    def committed(path: str) -> str:
        try:
            return workspace.run("git", "show", f"{revision}:{path}", cwd=root).stdout
        except workspace.CommandFailed:
            raise VerifyError(f"{path} is not committed at {revision}: commit the results of "
                              "`dvc repro` before verifying them") from None

    params = parse_params(yaml.safe_load(committed("params.yaml")), Path(f"{revision}:params.yaml"))
    names = datasets or list(params.datasets)
    for name in names:
        params.dataset(name)
    lock = yaml.safe_load(committed("dvc.lock"))
    metrics = {name: json.loads(committed(f"metrics/{name}.json")) for name in names}
    vendors = {name: committed_vendor(committed, DatasetPaths(name).model_card_json.as_posix())
               for name in names}
    with workspace.scratch_checkout(revision, root) as scratch:
        log.info("verifying %s at %s in %s", ", ".join(names), revision, scratch)
        return [
            compare(name, retrain(name, scratch), lock, metrics[name],
                    params.reproducibility.accuracy_band, vendors[name])
            for name in names
        ]


def committed_vendor(committed, card_path: str) -> str | None:
    """The CPU vendor the committed model card names; None where the card or the field is
    missing."""
    try:
        card = json.loads(committed(card_path))
    except VerifyError:
        return None
    return card.get("reproducibility", {}).get("cpu_vendor")

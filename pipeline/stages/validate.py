"""The validate stage: Great Expectations 1.x suites that keep bad data from reaching training.

Per split, the raw IDX files become four small tables that the suites check:
  files    one row per IDX file: magic number, declared vs actual item count, image size;
  images   one row per image: label, pixel range, mean ink, dtype;
  classes  one row per class: share and mean ink, beside the validation reference's values;
  summary  one row: pixel mean and std beside the reference, train/test duplicate count.
The validation reference (suites/<dataset>.reference.json, in the repo) is built from trusted data
by `lenet reference --dataset <name>`, so a silently changed download is caught even
when its checksum was updated on purpose. Each expectation belongs to a named check; params.yaml's
`validation.warn` lists the checks that only warn. Results go to reports/validation/<dataset>.json
and to Great Expectations Data Docs.

The `missing`, `dtype` and `pixel_range` checks guard the tables rather than the files: an IDX file
whose type code is not unsigned bytes already fails `header`, and unsigned bytes can be neither
missing nor outside 0..255.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core import idx
from pipeline.core.config import Dataset, Validation
from pipeline.core.data import SPLITS, load_raw_split
from pipeline.core.errors import PipelineError
from pipeline.core.files import write_json, writing
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.pages import assets as web_assets

log = logging.getLogger(__name__)

DOCS_SITE = "lenet_validation"  # not "local_site": GX already defines that name
# Data Docs name their pages and stamp them with the run's name and time: fixed ones keep the
# pages byte-identical between runs (the data, not the clock, decides what they say).
DOCS_RUN_NAME = "validate"
DOCS_RUN_TIME = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
# What still varies in the rendered pages: clock times (the build time on the logo's URL, the
# batch's load time) and random UUIDs that only tie a collapse button to its panel in one page.
DOCS_CLOCK_TIME = re.compile(r"\d{8}T\d{6}\.\d{6}Z")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SIDE = 28
MAGIC = {"images": 0x803, "labels": 0x801}
SATURATED = 0.5  # an image is saturated when more than half its pixels are 255


class ValidationFailed(PipelineError):
    """At least one expectation whose check is an error (not a warning) failed."""


# --- the tables -------------------------------------------------------------------------------

def file_table(paths: dict[str, Path]) -> tuple[pd.DataFrame, dict[str, bytes]]:
    rows, contents = [], {}
    for kind, path in paths.items():
        data = idx.decompress(path)
        contents[kind] = data
        magic, shape = idx.header(data, path)
        payload = len(data) - 4 - 4 * len(shape)
        rows.append(
            {
                "file": path.name,
                "kind": kind,
                "magic": magic,
                "expected_magic": MAGIC[kind],
                "declared_items": int(np.prod(shape, dtype=np.int64)),
                "actual_items": payload,
                "declared_count": shape[0] if shape else 0,
                "rows": shape[1] if len(shape) > 1 else SIDE,
                "cols": shape[2] if len(shape) > 2 else SIDE,
            }
        )
    return pd.DataFrame(rows), contents


def image_table(images: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    flat = images.reshape(len(images), -1)
    return pd.DataFrame({
        "label": labels,
        "pixel_min": flat.min(axis=1),
        "pixel_max": flat.max(axis=1),
        "ink": flat.mean(axis=1, dtype=np.float64),
        "saturated_fraction": (flat == 255).mean(axis=1),
    })


def split_stats(images: np.ndarray, labels: np.ndarray, n_classes: int) -> dict:
    """The numbers the validation reference keeps (and the drift checks compare)."""
    flat = images.reshape(len(images), -1)
    ink = flat.mean(axis=1, dtype=np.float64)
    counts = np.bincount(labels, minlength=n_classes)[:n_classes]
    return {
        "rows": len(labels),
        "class_shares": (counts / max(len(labels), 1)).round(6).tolist(),
        "pixel_mean": float(flat.mean(dtype=np.float64)),
        "pixel_std": float(flat.std(dtype=np.float64)),
        "class_mean_ink": [
            float(ink[labels == c].mean()) if counts[c] else 0.0 for c in range(n_classes)
        ],
        "ink_band": [float(np.quantile(ink, 0.0005)), float(np.quantile(ink, 0.9995))],
    }


def class_table(stats: dict, reference: dict) -> pd.DataFrame:
    share, ink = np.array(stats["class_shares"]), np.array(stats["class_mean_ink"])
    ref_share, ref_ink = np.array(reference["class_shares"]), np.array(reference["class_mean_ink"])
    return pd.DataFrame({
        "class": range(len(share)), "share": share, "reference_share": ref_share,
        "share_deviation": np.abs(share - ref_share),
        "mean_ink": ink, "mean_ink_drift": np.abs(ink - ref_ink) / np.maximum(ref_ink, 1e-9),
    })


def image_hashes(images: np.ndarray) -> set[str]:
    return {hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest() for image in images}


def summary_table(stats: dict, reference: dict, duplicates: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "pixel_mean_drift": abs(stats["pixel_mean"] - reference["pixel_mean"])
                / reference["pixel_mean"],
                "pixel_std_drift": abs(stats["pixel_std"] - reference["pixel_std"])
                / reference["pixel_std"],
                "train_test_duplicates": duplicates,
            }
        ]
    )


# --- the suites -------------------------------------------------------------------------------

def suites(dataset: Dataset, split: str, cfg: Validation, reference: dict) -> dict[str, list]:
    """{table: [expectation, ...]}; each expectation's meta names its check."""
    import great_expectations.expectations as gxe

    def check(name, expectation):
        expectation.meta = {"check": name}
        return expectation

    n = len(dataset.classes)
    low, high = reference["ink_band"]
    return {
        "files": [
            check(
                "header",
                gxe.ExpectColumnPairValuesToBeEqual(column_A="magic", column_B="expected_magic"),
            ),
            check(
                "header",
                gxe.ExpectColumnPairValuesToBeEqual(
                    column_A="declared_items", column_B="actual_items"
                ),
            ),
            check(
                "header",
                gxe.ExpectColumnValuesToBeBetween(column="rows", min_value=SIDE, max_value=SIDE),
            ),
            check(
                "header",
                gxe.ExpectColumnValuesToBeBetween(column="cols", min_value=SIDE, max_value=SIDE),
            ),
            check(
                "rows",
                gxe.ExpectColumnValuesToBeBetween(
                    column="declared_count",
                    min_value=getattr(dataset.rows, split),
                    max_value=getattr(dataset.rows, split),
                ),
            ),
        ],
        "images": [
            check("rows", gxe.ExpectTableRowCountToEqual(value=getattr(dataset.rows, split))),
            check("missing", gxe.ExpectColumnValuesToNotBeNull(column="label")),
            check("missing", gxe.ExpectColumnValuesToNotBeNull(column="ink")),
            check("dtype", gxe.ExpectColumnValuesToBeOfType(column="pixel_max", type_="uint8")),
            check(
                "pixel_range",
                gxe.ExpectColumnValuesToBeBetween(column="pixel_min", min_value=0, max_value=255),
            ),
            check(
                "pixel_range",
                gxe.ExpectColumnValuesToBeBetween(column="pixel_max", min_value=0, max_value=255),
            ),
            check(
                "labels",
                gxe.ExpectColumnValuesToBeBetween(column="label", min_value=0, max_value=n - 1),
            ),
            check(
                "classes_present",
                gxe.ExpectColumnDistinctValuesToContainSet(
                    column="label", value_set=list(range(n))
                ),
            ),
            check(
                "blank_images",
                gxe.ExpectColumnValuesToBeBetween(
                    column="pixel_max", min_value=1, mostly=1 - cfg.blank_tolerance
                ),
            ),
            check(
                "saturated_images",
                gxe.ExpectColumnValuesToBeBetween(
                    column="saturated_fraction",
                    max_value=SATURATED,
                    mostly=1 - cfg.saturated_tolerance,
                ),
            ),
            check(
                "ink_band",
                gxe.ExpectColumnValuesToBeBetween(
                    column="ink",
                    min_value=low * (1 - cfg.drift_tolerance),
                    max_value=high * (1 + cfg.drift_tolerance),
                    mostly=cfg.ink_band_mostly,
                ),
            ),
        ],
        "classes": [
            check(
                "class_shares",
                gxe.ExpectColumnValuesToBeBetween(
                    column="share_deviation", max_value=cfg.class_share_tolerance
                ),
            ),
            check(
                "drift_class_ink",
                gxe.ExpectColumnValuesToBeBetween(
                    column="mean_ink_drift", max_value=cfg.drift_tolerance
                ),
            ),
        ],
        "summary": [
            check(
                "drift_pixel_stats",
                gxe.ExpectColumnValuesToBeBetween(
                    column="pixel_mean_drift", max_value=cfg.drift_tolerance
                ),
            ),
            check(
                "drift_pixel_stats",
                gxe.ExpectColumnValuesToBeBetween(
                    column="pixel_std_drift", max_value=cfg.drift_tolerance
                ),
            ),
            *(
                [
                    check(
                        "leakage",
                        gxe.ExpectColumnValuesToBeBetween(
                            column="train_test_duplicates", max_value=cfg.max_train_test_duplicates
                        ),
                    )
                ]
                if split == "test"
                else []
            ),
        ],
    }


# --- running them -----------------------------------------------------------------------------

class _Validator:
    """An ephemeral GX context: one checkpoint per table, then Data Docs of them all in one folder
    (built once at the end: rebuilding the site after every checkpoint cost half the stage)."""

    def __init__(self, name: str, docs_dir: Path):
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        self.gx, self.name = gx, name
        self.context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            progress_bars=ProgressBarsConfig(globally=False),  # one bar per metric: noise in logs
        ))
        self.context.add_data_docs_site(site_name=DOCS_SITE, site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(docs_dir.resolve())},
        })
        self.source = self.context.data_sources.add_pandas(name)

    def run(self, split: str, table: str, expectations: list, frame: pd.DataFrame) -> list[dict]:
        from great_expectations.core.run_identifier import RunIdentifier

        gx, asset = self.gx, f"{split}.{table}"
        full = f"{self.name}.{asset}"
        batch = self.source.add_dataframe_asset(asset).add_batch_definition_whole_dataframe(asset)
        suite = gx.ExpectationSuite(name=full)
        for expectation in expectations:
            suite.add_expectation(expectation)
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=full, data=batch, suite=self.context.suites.add(suite)))
        checkpoint = self.context.checkpoints.add(gx.Checkpoint(
            name=full, validation_definitions=[definition], result_format="SUMMARY"))
        (result,) = checkpoint.run(
            batch_parameters={"dataframe": frame},
            run_id=RunIdentifier(run_name=DOCS_RUN_NAME, run_time=DOCS_RUN_TIME),
        ).run_results.values()
        return [_outcome(split, table, item) for item in result.results]

    def build_docs(self) -> None:
        self.context.build_data_docs(site_names=[DOCS_SITE])


def normalise_docs(docs_dir: Path) -> None:
    """Clock times -> the fixed run time, random UUIDs -> numbers, in every Data Docs page."""
    fixed_time = DOCS_RUN_TIME.strftime("%Y%m%dT%H%M%S.%fZ")
    for page in docs_dir.rglob("*.html"):
        html = DOCS_CLOCK_TIME.sub(fixed_time, page.read_text())
        numbers = {uuid: f"n{i}" for i, uuid in enumerate(dict.fromkeys(UUID.findall(html)))}
        page.write_text(UUID.sub(lambda match, numbers=numbers: numbers[match.group()], html))


def _outcome(split: str, table: str, item) -> dict:
    config, details = item.expectation_config, item.result or {}
    observed = details.get("observed_value")
    if observed is None and "unexpected_count" in details:
        observed = {"unexpected_count": details["unexpected_count"],
                    "unexpected_percent": round(details.get("unexpected_percent") or 0.0, 4),
                    "examples": details.get("partial_unexpected_list", [])[:5]}
    expected = {k: v for k, v in config.kwargs.items() if k not in ("batch_id", "column")}
    return _jsonable({"check": config.meta["check"], "split": split, "table": table,
                      "column": config.kwargs.get("column"),
                      "expectation": config.type, "expected": expected, "observed": observed,
                      "success": bool(item.success)})


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _split_files(raw: Path, dataset: Dataset, split: str) -> dict[str, Path]:
    return {kind: raw / getattr(dataset.files, f"{split}_{kind}").name for kind in MAGIC}


def load_reference(name: str, paths: DatasetPaths) -> dict:
    path = paths.reference
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValidationFailed(f"{path}: no validation reference; build it from trusted data with "
                               f"`lenet reference --dataset {name}`") from None


def validate(
    name: str, dataset: Dataset, cfg: Validation, paths: DatasetPaths, docs_dir: Path
) -> list[dict]:
    reference = load_reference(name, paths)
    validator = _Validator(name, docs_dir)
    n = len(dataset.classes)
    outcomes, arrays = [], {}
    for split in SPLITS:
        files, contents = file_table(_split_files(paths.raw, dataset, split))
        header = validator.run(
            split, "files", suites(dataset, split, cfg, reference[split])["files"], files
        )
        outcomes += header
        if not all(o["success"] for o in header):
            continue  # the arrays cannot be trusted (or even shaped): the rest would be noise
        images = idx.parse(contents["images"], files.file[0])
        labels = idx.parse(contents["labels"], files.file[1])
        arrays[split] = (images, labels)
    duplicates = (len(image_hashes(arrays["train"][0]) & image_hashes(arrays["test"][0]))
                  if len(arrays) == len(SPLITS) else 0)
    for split, (images, labels) in arrays.items():
        expectations = suites(dataset, split, cfg, reference[split])
        stats = split_stats(images, labels, n)
        for table, frame in (
            ("images", image_table(images, labels)),
            ("classes", class_table(stats, reference[split])),
            ("summary", summary_table(stats, reference[split], duplicates)),
        ):
            outcomes += validator.run(split, table, expectations[table], frame)
    validator.build_docs()
    return outcomes


def run(name: str, dataset: Dataset, cfg: Validation, paths: DatasetPaths) -> dict:
    paths.data_docs.parent.mkdir(parents=True, exist_ok=True)
    docs_tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=paths.data_docs.parent))
    try:
        with writing(paths.data_docs):  # Great Expectations writes the docs through its own handles
            outcomes = validate(name, dataset, cfg, paths, docs_tmp)
            normalise_docs(docs_tmp)
            web_assets.localise_site(docs_tmp, ProjectPaths(paths.root))
        shutil.rmtree(paths.data_docs, ignore_errors=True)
        docs_tmp.rename(paths.data_docs)
    finally:
        shutil.rmtree(docs_tmp, ignore_errors=True)
    for outcome in outcomes:
        outcome["severity"] = "warning" if outcome["check"] in cfg.warn else "error"
    errors = [o for o in outcomes if not o["success"] and o["severity"] == "error"]
    warnings = [o for o in outcomes if not o["success"] and o["severity"] == "warning"]
    report = {
        "dataset": name,
        "success": not errors,
        "failed_checks": sorted({o["check"] for o in errors}),
        "warned_checks": sorted({o["check"] for o in warnings}),
        "expectations": outcomes,
    }
    write_json(paths.validation_report, report)
    log.info("%s: %d expectations, %d failed, %d warnings; Data Docs: %s", name, len(outcomes),
             len(errors), len(warnings), paths.data_docs / "index.html")
    for outcome in warnings:
        log.warning("%s", _line(outcome))
    if errors:
        raise ValidationFailed(f"{len(errors)} expectation(s) failed for {name} "
                               f"(details: {paths.validation_report}):\n"
                               + "\n".join(_line(o) for o in errors))
    return report


def _line(o: dict) -> str:
    column = f" {o['column']}" if o["column"] else ""
    return (f"  [{o['check']}] {o['split']}.{o['table']}{column}: {o['expectation']} "
            f"expected {o['expected']}, observed {o['observed']}")


def build_reference(name: str, dataset: Dataset, paths: DatasetPaths) -> Path:
    """Write the validation reference from the data now in data/raw/<name> (trusted by the
    caller)."""
    reference = {}
    for split in SPLITS:
        raw = load_raw_split(paths.raw, dataset, split)
        reference[split] = split_stats(raw.images, raw.labels, len(dataset.classes))
    write_json(paths.reference, reference)
    return paths.reference

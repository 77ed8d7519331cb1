"""Validate stage: Great Expectations 1.x suites on the raw IDX contents, before anything trains.

Each split becomes a per-image table (label, size, pixel range, ink) that the suite checks. The
result is written as JSON for machines and as Data Docs HTML for people; any failed expectation
stops the pipeline with a summary of what was observed versus expected.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import Dataset
from pipeline.data import SPLITS, RawSplit, load_raw_split
from pipeline.errors import PipelineError
from pipeline.files import write_json
from pipeline.paths import DatasetPaths

log = logging.getLogger(__name__)

DOCS_SITE = "lenet_validation"  # not "local_site": GX already defines that name
IMAGE_SIDE = 28


class ValidationFailed(PipelineError):
    """At least one expectation failed."""


def image_table(split: RawSplit) -> pd.DataFrame:
    """One row per image: the columns the expectations look at."""
    images = split.images
    flat = images.reshape(len(images), -1)
    return pd.DataFrame(
        {
            "label": split.labels,
            "height": np.full(len(images), images.shape[1], dtype=np.int64),
            "width": np.full(len(images), images.shape[2], dtype=np.int64),
            "pixel_min": flat.min(axis=1),
            "pixel_max": flat.max(axis=1),
            "ink": flat.mean(axis=1, dtype=np.float64),
        }
    )


def build_suite(name: str, dataset: Dataset, split: str):
    import great_expectations as gx
    import great_expectations.expectations as gxe

    classes = list(range(len(dataset.classes)))
    suite = gx.ExpectationSuite(name=name)
    for expectation in (
        gxe.ExpectTableRowCountToEqual(value=getattr(dataset.rows, split)),
        gxe.ExpectColumnValuesToNotBeNull(column="label"),
        gxe.ExpectColumnValuesToBeBetween(column="label", min_value=0, max_value=classes[-1]),
        gxe.ExpectColumnDistinctValuesToEqualSet(column="label", value_set=classes),
        gxe.ExpectColumnValuesToBeBetween(column="height", min_value=IMAGE_SIDE, max_value=IMAGE_SIDE),
        gxe.ExpectColumnValuesToBeBetween(column="width", min_value=IMAGE_SIDE, max_value=IMAGE_SIDE),
        gxe.ExpectColumnValuesToBeOfType(column="pixel_max", type_="uint8"),
        gxe.ExpectColumnValuesToBeBetween(column="pixel_min", min_value=0, max_value=255),
        gxe.ExpectColumnValuesToBeBetween(column="pixel_max", min_value=0, max_value=255),
    ):
        suite.add_expectation(expectation)
    return suite


def _summarise(split: str, result) -> dict:
    checks = []
    for item in result.results:
        config = item.expectation_config
        details = item.result or {}
        observed = details.get("observed_value")
        if observed is None and "unexpected_count" in details:
            observed = {
                "unexpected_count": details["unexpected_count"],
                "examples": details.get("partial_unexpected_list", [])[:5],
            }
        kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
        checks.append(
            {"expectation": config.type, "kwargs": kwargs, "success": bool(item.success),
             "observed": observed}
        )
    return {"split": split, "success": bool(result.success), "checks": checks}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def run(name: str, dataset: Dataset, paths: DatasetPaths) -> dict:
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    paths.data_docs.parent.mkdir(parents=True, exist_ok=True)
    docs_tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=paths.data_docs.parent))
    try:
        context = gx.get_context(
            mode="ephemeral",
            project_config=DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(),
                progress_bars=ProgressBarsConfig(globally=False),  # one per metric: noise in logs
            ),
        )
        context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_tmp.resolve()),
                },
            },
        )
        source = context.data_sources.add_pandas(name)
        splits = []
        for split in SPLITS:
            table = image_table(load_raw_split(paths.raw, dataset, split))
            batch = source.add_dataframe_asset(split).add_batch_definition_whole_dataframe(split)
            suite = context.suites.add(build_suite(f"{name}.{split}", dataset, split))
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=f"{name}.{split}", data=batch, suite=suite)
            )
            checkpoint = context.checkpoints.add(
                gx.Checkpoint(
                    name=f"{name}.{split}",
                    validation_definitions=[definition],
                    actions=[UpdateDataDocsAction(name="docs", site_names=[DOCS_SITE])],
                    result_format="SUMMARY",
                )
            )
            outcome = checkpoint.run(batch_parameters={"dataframe": table})
            (result,) = outcome.run_results.values()
            splits.append(_summarise(split, result))
        shutil.rmtree(paths.data_docs, ignore_errors=True)
        docs_tmp.rename(paths.data_docs)
    finally:
        shutil.rmtree(docs_tmp, ignore_errors=True)

    report = _jsonable({"dataset": name, "success": all(s["success"] for s in splits), "splits": splits})
    write_json(paths.validation_report, report)
    log.info("%s: Data Docs at %s", name, paths.data_docs / "index.html")
    failures = [
        f"  {s['split']}: {c['expectation']} {c['kwargs']} observed {c['observed']}"
        for s in splits for c in s["checks"] if not c["success"]
    ]
    if failures:
        raise ValidationFailed(
            f"{len(failures)} expectation(s) failed for {name} "
            f"(details in {paths.validation_report}):\n" + "\n".join(failures)
        )
    return report

"""Export stage: an ONNX model that takes raw images, checked against Keras on the whole test set.

The ONNX graph starts at raw pixels (N x 28 x 28, float32 values 0..255) and does the padding and
normalisation itself, so a consumer cannot get preprocessing wrong. The file carries its own
provenance as ONNX metadata (`provenance`: dataset, classes, input contract, code, params and
data hashes, test accuracy, profile), which ONNX Runtime reads back as `custom_metadata_map`
and `lenet predict --check-provenance` checks; the model card says the same in markdown and JSON.
"""

from __future__ import annotations

import hashlib
import json
import time

import keras
import numpy as np
import onnxruntime as ort
import yaml

from pipeline.core import code
from pipeline.core.config import Dataset, Params
from pipeline.core.data import load_processed, load_raw_split
from pipeline.core.errors import PipelineError
from pipeline.core.files import atomic_path, write_json, write_text
from pipeline.core.paths import DatasetPaths, ProjectPaths
from pipeline.model import lenet
from pipeline.runtime import machine, profile

CHECK_BATCH = 1000
OPSET = 15  # pinned (tf2onnx's default today), so a converter upgrade cannot change it silently
INPUT_CONTRACT = {"shape": ["N", 28, 28], "dtype": "float32", "range": [0, 255],
                  "polarity": "light ink on a dark background (0), as in MNIST"}


class ExportMismatch(PipelineError):
    """The ONNX model disagrees with the Keras model."""


def raw_input_model(classifier: keras.Model, pad: int, mean: float, std: float) -> keras.Model:
    """Raw 28x28 pixels in, class probabilities out: preprocessing baked into the graph."""
    side = 28
    return keras.Sequential(
        [
            keras.Input((side, side), name="pixels"),
            keras.layers.Reshape((side, side, 1)),
            keras.layers.ZeroPadding2D(pad),  # raw background is 0, as in the preprocess stage
            keras.layers.Rescaling(scale=1.0 / std, offset=-mean / std),
            classifier,
        ],
        name="lenet5_raw_input",
    )


def normalise_onnx(path) -> None:
    """Rename the converter's numbered nodes and tensors by their order of use in the graph, and
    store the initializers in that order: tf2onnx's counters and its initializer order differ
    between runs, and the same weights must always give the same file."""
    import onnx

    proto = onnx.load(str(path))
    graph = proto.graph
    keep = {value.name for value in [*graph.input, *graph.output]}
    names: dict[str, str] = {}

    def rename(name: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, f"t{len(names)}")

    for i, node in enumerate(graph.node):
        node.name = f"{node.op_type}_{i}"
        node.input[:] = [rename(name) for name in node.input]
        node.output[:] = [rename(name) for name in node.output]
    for value in [*graph.initializer, *graph.value_info]:
        value.name = rename(value.name)
    initializers = sorted(graph.initializer, key=lambda tensor: int(tensor.name[1:]))
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def code_commit(project: ProjectPaths) -> str:
    """The last commit that changed the code of any stage (the pipeline/ files this stage lists
    as dependencies in dvc.yaml: all of them, for this reason), flagged if the tree differs there.

    Not HEAD: committing the results, the docs or the Prefect flow must not change a model that
    DVC (rightly) does not rebuild, or `verify` could never retrain the committed bytes.
    """
    return code.last_commit(project, code.stage_code(project, "export"))


def provenance(name: str, dataset: Dataset, params: Params, metrics: dict, commit: str) -> dict:
    """What the model is and what made it: stored in the ONNX file and in model_card.json."""
    trained_by = {"seed": params.seed, "preprocess": params.preprocess.model_dump(),
                  "model": params.model.model_dump(), "train": params.train_for(name).model_dump(),
                  "horizontal_flip": dataset.horizontal_flip}
    honoured, why = machine.honoured(params.reproducibility)
    return {
        "dataset": name,
        "classes": dataset.classes,
        "input": {"name": "pixels", **INPUT_CONTRACT},
        "git_commit": commit,
        "params": trained_by,
        "params_sha256": hashlib.sha256(
            json.dumps(trained_by, sort_keys=True).encode()
        ).hexdigest(),
        "data_md5": {f.name: f.md5 for f in dataset.data_files()},
        "test_accuracy": metrics["test"]["accuracy"],
        "reproducibility": {
            **params.reproducibility.model_dump(),
            "honoured": honoured,
            "note": why,
            "cpu_vendor": machine.cpu()["vendor"],
        },
        "opset": OPSET,
        "versions": machine.versions(),
    }


def add_metadata(path, facts: dict) -> None:
    """Each fact as one ONNX metadata property (strings; structures as JSON)."""
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in facts.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    onnx.save(proto, str(path))


def onnx_probabilities(session: ort.InferenceSession, images: np.ndarray) -> np.ndarray:
    feed = session.get_inputs()[0].name
    batches = [
        session.run(None, {feed: images[i : i + CHECK_BATCH].astype(np.float32)})[0]
        for i in range(0, len(images), CHECK_BATCH)
    ]
    return np.concatenate(batches)


def model_card(name: str, dataset: Dataset, params: Params, metrics: dict, check: dict,
               facts: dict) -> str:
    settings = {"seed": params.seed, **params.model_dump(include={"preprocess", "model"}),
                "train": params.train_for(name).model_dump()}  # what this dataset trained with
    honoured, why = machine.honoured(params.reproducibility)
    checksums = "\n".join(f"| `{f.name}` | `{f.md5}` |" for f in dataset.data_files())
    pinned = params.reproducibility.model_dump(exclude={"accuracy_band"})
    return f"""# LeNet-5 on {name}

Trained by this repository's DVC pipeline; `dvc repro` with the params below reproduces it.

## Use
`model.onnx` takes raw images: input `{check["input_name"]}`, float32, shape N x 28 x 28, pixel
values 0..255 (no padding or normalisation needed: both are inside the graph). Output: N x
{len(dataset.classes)} class probabilities in this order: {", ".join(dataset.classes)}.
`lenet predict --dataset {name} IMAGE...` classifies image files with it (no TensorFlow needed).

## Provenance
Stored in the ONNX file itself as metadata (ONNX Runtime:
`InferenceSession(path).get_modelmeta().custom_metadata_map`) and in `model_card.json`: pipeline
code at commit `{facts["git_commit"]}`, params sha256 `{facts["params_sha256"][:16]}...`, ONNX
opset {facts["opset"]}, and the data checksums, profile and test accuracy below.

## Test-set results
| accuracy | loss | errors |
|---|---|---|
| {metrics["test"]["accuracy"]:.4f} | {metrics["test"]["loss"]:.4f} | {metrics["test"]["errors"]} |

ONNX Runtime vs Keras on all {check["images"]} test images: argmax agreement
{check["argmax_agreement"]:.4%}, max |difference of probabilities| {check["max_abs_diff"]:.2e}.

## Parameters
```yaml
{yaml.safe_dump(settings, sort_keys=False).strip()}
```

## Data (md5 of the decompressed IDX files)
| file | md5 |
|---|---|
{checksums}

## Reproducibility profile
`reproducibility` in params.yaml, in force for training, evaluation and export:
{", ".join(f"{k} {v}" for k, v in pinned.items())}.
Honoured here: {"yes" if honoured else "no"} ({why}), on a CPU of vendor
{facts["reproducibility"]["cpu_vendor"]}. `lenet verify` expects these bytes exactly where the
profile is honoured on a CPU of the same vendor (oneDNN's kernels differ between vendors even at
one instruction set: README, Reproducibility); elsewhere test accuracy agrees within
{params.reproducibility.accuracy_band}. The CPU model, thread counts and wall times are in
reports/runtime/{name}/.

## Versions
{", ".join(f"{k} {v}" for k, v in machine.versions().items())}
"""


def convert(classifier: keras.Model, arrays: dict, target) -> None:
    """Write the classifier as ONNX at `target`, taking raw 28x28 pixels (padding and
    normalisation inside the graph), with stable node names."""
    exported = raw_input_model(
        classifier, int(arrays["pad"]), float(arrays["mean"]), float(arrays["std"])
    )
    exported(np.zeros((1, 28, 28), np.float32))  # Keras exports only models that have been called
    exported.export(str(target), format="onnx", verbose=False, opset_version=OPSET)
    normalise_onnx(target)


def check_against_keras(onnx_file, classifier: keras.Model, arrays: dict, raw_test: np.ndarray,
                        shown_as) -> dict:
    """ONNX Runtime on the raw test images against Keras on the preprocessed ones; raises
    ExportMismatch (naming `shown_as`) unless every image gets the same class."""
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    onnx_probs = onnx_probabilities(session, raw_test)
    keras_probs = classifier.predict(arrays["x_test"], batch_size=CHECK_BATCH, verbose=0)
    agreement = float(np.mean(onnx_probs.argmax(1) == keras_probs.argmax(1)))
    check = {
        "input_name": session.get_inputs()[0].name,
        "images": len(raw_test),
        "argmax_agreement": agreement,
        "max_abs_diff": float(np.abs(onnx_probs - keras_probs).max()),
    }
    if agreement < 1.0:
        raise ExportMismatch(
            f"{shown_as}: ONNX Runtime and Keras disagree on "
            f"{round((1 - agreement) * len(raw_test))} of {len(raw_test)} test images "
            f"(max |difference of probabilities| {check['max_abs_diff']:.3g}); not exported"
        )
    return check


def run(name: str, dataset: Dataset, params: Params, paths: DatasetPaths) -> dict:
    """Convert, check against Keras, stamp the provenance into the file, then write the cards:
    model.onnx appears only once it passed the check and carries its metadata."""
    started = time.perf_counter()
    profile.seed_everything(params.seed, params.reproducibility)
    arrays = load_processed(paths.processed)
    classifier = lenet.classifier_of(keras.saving.load_model(paths.keras_model))
    with atomic_path(paths.onnx_model) as tmp:
        convert(classifier, arrays, tmp)
        check = check_against_keras(
            tmp,
            classifier,
            arrays,
            load_raw_split(paths.raw, dataset, "test").images,
            paths.onnx_model,
        )
        metrics = json.loads(paths.metrics.read_text())
        facts = provenance(name, dataset, params, metrics, code_commit(ProjectPaths(paths.root)))
        add_metadata(tmp, facts)
    write_json(paths.model_card_json, {**facts, "onnx_check": check})
    write_text(paths.model_card, model_card(name, dataset, params, metrics, check, facts))
    machine.record(paths, "export", {**check, **machine.facts(params.reproducibility),
                                     "wall_seconds": round(time.perf_counter() - started, 2)})
    return check

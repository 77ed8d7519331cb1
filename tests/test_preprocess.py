"""pipeline/stages/preprocess.py: the split and the transform."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.stages.preprocess import normalisation, stratified_split, transform


def test_stratified_split_takes_the_fraction_of_every_class_disjointly_and_by_seed():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    train, val = stratified_split(labels, 0.1, seed=3)
    assert np.bincount(labels[val]).tolist() == [1, 2, 3, 4]
    assert np.intersect1d(train, val).size == 0
    assert sorted([*train, *val]) == list(range(len(labels)))
    assert np.array_equal(stratified_split(labels, 0.1, seed=3)[1], val)
    assert not np.array_equal(stratified_split(labels, 0.1, seed=4)[1], val)



def test_transform_pads_with_background_and_normalises_with_the_given_constants():
    images = np.full((2, 28, 28), 255, dtype=np.uint8)
    out = transform(images, pad=2, mean=127.5, std=127.5)
    assert out.shape == (2, 32, 32, 1) and out.dtype == np.float32
    assert out[0, 0, 0, 0] == pytest.approx(-1.0)  # padding: raw 0
    assert out[0, 2, 2, 0] == pytest.approx(1.0)
    assert normalisation(images, "unit") == (0.0, 255.0)
    assert normalisation(np.array([[0, 255]], np.uint8), "standard") == (127.5, 127.5)

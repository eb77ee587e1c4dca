"""Data, split, scaling and shared init equal what the article's own code gives."""

import json

import numpy as np
import pandas as pd
import pytest

import article_reference as ref
from secondorder import io
from secondorder.pipeline import stages
from secondorder.problem import data, model


def test_spirals_bit_identical_to_the_article():
    assert np.array_equal(data.spiral_data(500), ref.spiral_data(500))


def test_spirals_shape_and_classes():
    spiral = data.spiral_data(10)
    assert spiral.shape == (10, 4)
    assert list(data.class_labels(spiral[:, 2:])) == [1] * 5 + [2] * 5
    assert np.array_equal(data.one_hot(data.class_labels(spiral[:, 2:])), spiral[:, 2:])


@pytest.mark.parametrize("bad", [0, 1, -3, 2.5])
def test_spirals_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="nsamp"):
        data.spiral_data(bad)


def test_split_is_the_articles():
    trn_ref, val_ref = ref.split(ref.spiral_data(500))
    trn, val = data.split_indices(500, 0.8, 0)
    assert np.array_equal(trn, trn_ref) and np.array_equal(val, val_ref)
    assert len(trn) == 400 and len(val) == 100
    assert set(trn).isdisjoint(val) and set(trn) | set(val) == set(range(500))


def test_scaling_is_the_articles_including_the_swap():
    spiral = ref.spiral_data(500)
    trn, _ = ref.split(spiral)
    scaler = data.article_scaler(spiral[trn, :2])
    assert scaler["min_max_swapped"] is True
    assert np.array_equal(data.apply_scaler(spiral[:, :2], scaler), ref.scaled_inputs(spiral, trn))
    # the quirk: the training maximum lands on 0.1, the minimum on 0.9
    scaled = data.apply_scaler(spiral[trn, :2], scaler)
    assert np.allclose(scaled.min(axis=0), 0.1) and np.allclose(scaled.max(axis=0), 0.9)
    assert np.argmin(scaled[:, 0]) == np.argmax(spiral[trn, 0])


def test_conventional_scaling_when_swap_is_off():
    x = np.array([[0.0, 10.0], [4.0, 20.0]])
    scaled = data.apply_scaler(x, data.article_scaler(x, swap_min_max=False))
    assert np.allclose(scaled, [[0.1, 0.1], [0.9, 0.9]])


def test_shared_init_is_the_articles():
    ws_ref, keras_ref = ref.initial_weights()
    ws = model.init_weights(1)
    assert np.array_equal(ws, ws_ref)
    for mine, theirs in zip(model.unpack(ws), keras_ref):
        assert np.array_equal(mine, theirs)
    assert np.array_equal(model.pack(*keras_ref), ws)


def test_stage_files_round_trip(tmp_path):
    stages.make_spirals(tmp_path / "spirals.csv", 500)
    stages.split_scale(tmp_path / "spirals.csv", tmp_path / "split.json",
                       tmp_path / "scaler.json", tmp_path / "scaled.csv", train_fraction=0.8,
                       split_seed=0, scale_min=0.1, scale_max=0.9, swap_min_max=True)
    stages.make_shared_init(tmp_path / "init.npy", tmp_path / "init.json", seed=1, low=-0.1,
                            high=0.1, hidden=25)
    spiral = ref.spiral_data(500)
    trn, val = ref.split(spiral)
    frame = pd.read_csv(tmp_path / "spirals.csv")
    assert list(frame.columns) == ["x", "y", "class"]
    assert np.array_equal(frame[["x", "y"]].to_numpy(), spiral[:, :2])  # exact after CSV
    split = json.loads((tmp_path / "split.json").read_text())
    assert split["train"] == trn.tolist() and split["validation"] == val.tolist()
    scaled = pd.read_csv(tmp_path / "scaled.csv")
    assert np.array_equal(scaled[["x", "y"]].to_numpy(), ref.scaled_inputs(spiral, trn))
    assert json.loads((tmp_path / "scaler.json").read_text())["min_max_swapped"] is True
    init = json.loads((tmp_path / "init.json").read_text())
    assert init["sha256"] == io.sha256(tmp_path / "init.npy")
    assert np.array_equal(np.load(tmp_path / "init.npy"), ref.initial_weights()[0])
    problem = stages.load_problem(tmp_path / "spirals.csv", tmp_path / "scaled.csv",
                                  tmp_path / "split.json", "raw")
    assert np.array_equal(problem.x_train, spiral[trn, :2])
    assert np.array_equal(problem.y_val, spiral[val, 2:])


def test_problem_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="same number of rows"):
        data.Problem(np.zeros((5, 2)), np.zeros((4, 2)), np.arange(3), np.arange(3, 4), "raw")
    with pytest.raises(ValueError, match=r"inputs must be one of \['raw', 'scaled', 'raw_reordered', 'standardised'\]"):
        data.Problem(np.zeros((5, 2)), np.zeros((5, 2)), np.arange(3), np.arange(3, 5), "x")

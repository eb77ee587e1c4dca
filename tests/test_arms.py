"""The registry of optimizers: one entry per optimizer, agreeing with the config schema,
and one entry point that trains a batch of fits."""

import numpy as np
import pytest

from secondorder import config
from secondorder.optim import arms
from secondorder.problem import data, model

ARCH = model.Architecture(2, 5, 2)


def schema_optimizers(sub: dict) -> list[str]:
    prop = sub["properties"]["optimizer"]
    return prop["enum"] if "enum" in prop else [prop["const"]]


def test_registry_and_schema_name_the_same_optimizers():
    schema = config.load_schema()
    generic = schema["properties"]["arms"]["additionalProperties"]
    assert schema_optimizers(generic) == list(arms.REGISTRY)
    assert list(config.ARM_SCHEMA) == list(arms.REGISTRY)
    for name in arms.REGISTRY:
        assert name in schema_optimizers(schema["$defs"][config.ARM_SCHEMA[name]])
    assert set(config.ARM_SCHEMA.values()) == set(schema["$defs"])
    assert schema_optimizers(schema["$defs"]["first_order"]) == list(arms.FIRST_ORDER)


def test_arm_schemas_are_read_from_the_schema():
    """Known values: each optimizer is checked by the ``$defs`` entry that names it."""
    assert config.ARM_SCHEMA == {"adam": "first_order", "sgd": "first_order",
                                 "rmsprop": "first_order", "lm": "lm", "lbfgs": "lbfgs",
                                 "scipy_lm_fd": "scipy_lm_fd",
                                 "scipy_lm_fd_modern": "scipy_lm_fd_modern"}
    toy = {"$defs": {"a": {"properties": {"optimizer": {"enum": ["x", "y"]}}},
                     "b": {"properties": {"optimizer": {"const": "z"}}}}}
    assert config.arm_schemas(toy) == {"x": "a", "y": "a", "z": "b"}


def test_check_arm_fills_the_schemas_defaults():
    arm = config.check_arm({"optimizer": "lbfgs", "inputs": "raw", "max_iter": np.int64(3)})
    assert arm == {"optimizer": "lbfgs", "inputs": "raw", "max_iter": 3, "memory": 10,
                   "max_time": None, "restore_best": False}
    assert type(arm["max_iter"]) is int
    sgd = config.check_arm({"optimizer": "sgd", "inputs": "raw", "learning_rate": 0.1,
                          "epochs": 2, "patience": 2})
    assert (sgd["engine"], sgd["momentum"], sgd["loss"], sgd["chunk"]) == (
        "compiled", 0.0, "ssq", 250)


def test_which_arms_train_together():
    first = {"optimizer": "adam", "inputs": "raw", "learning_rate": 0.1, "epochs": 2,
             "patience": 2}
    assert arms.batches(first) and not arms.batches({**first, "engine": "keras_fit"})
    assert arms.batches({"optimizer": "lm", "inputs": "raw", "max_iter": 2})
    assert not arms.batches({"optimizer": "lbfgs", "inputs": "raw", "max_iter": 2})


def test_train_gives_one_result_per_row_for_an_arm_that_loops():
    rng = np.random.default_rng(0)
    problem = data.Problem(rng.normal(size=(40, 2)), np.eye(2)[rng.integers(0, 2, 40)],
                           np.arange(30), np.arange(30, 40), "raw")
    W0 = np.stack([model.init_weights(s, ARCH) for s in (1, 2)])
    fits = arms.train({"optimizer": "lbfgs", "inputs": "raw", "max_iter": 2}, problem, W0,
                      ARCH)
    assert len(fits) == 2 and not np.array_equal(fits[0].weights, fits[1].weights)
    with pytest.raises(ValueError, match=r"\(B, 27\) matrix"):
        arms.train({"optimizer": "lbfgs", "inputs": "raw", "max_iter": 2}, problem, W0[0],
                   ARCH)


def test_lbfgs_fits_one_by_one_on_one_problem_compile_once_and_agree():
    """A study block trains L-BFGS one call per fit: the second call reuses the first's
    compiled loss (compile time near zero) and gives what a fresh compilation gives;
    another problem object compiles anew."""
    rng = np.random.default_rng(1)
    problem = data.Problem(rng.normal(size=(40, 2)), np.eye(2)[rng.integers(0, 2, 40)],
                           np.arange(30), np.arange(30, 40), "raw")
    arm = {"optimizer": "lbfgs", "inputs": "raw", "max_iter": 5}
    W0 = np.stack([model.init_weights(s, ARCH) for s in (1, 2)])
    first, again = (arms.train(arm, problem, W0[:1], ARCH)[0] for _ in range(2))
    assert again.compile_s < first.compile_s
    copy = data.Problem(problem.x_all.copy(), problem.y_all.copy(), problem.train,
                        problem.validation, "raw")
    fresh = arms.train(arm, copy, W0[:1], ARCH)[0]
    assert arms._LBFGS_COMPILED[0] is copy
    np.testing.assert_array_equal(again.weights, first.weights)
    np.testing.assert_array_equal(fresh.weights, first.weights)
    np.testing.assert_array_equal(fresh.history["ssq_val"], again.history["ssq_val"])

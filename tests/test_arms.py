"""The registry of optimizers: one entry per optimizer, the schema's names filled in from
it; the typed arm, checked once; and one entry point that trains a batch of fits."""

import copy
import json
import pickle

import numpy as np
import pytest

import secondorder.schema
from secondorder import config
from secondorder.optim import arms
from secondorder.pipeline import study
from secondorder.problem import data, model

ARCH = model.Architecture(2, 5, 2)


def schema_optimizers(sub: dict) -> list[str]:
    prop = sub["properties"]["optimizer"]
    return prop["enum"] if "enum" in prop else [prop["const"]]


def test_the_schemas_optimizer_names_come_from_the_registry():
    """Every arm may name an optimizer of the registry, each ``$defs`` block exactly the
    optimizers whose entry it checks; every block checks some and every entry's block
    exists."""
    schema = config.load_schema()
    generic = schema["properties"]["arms"]["additionalProperties"]
    assert schema_optimizers(generic) == list(arms.REGISTRY)
    for block, sub in schema["$defs"].items():
        assert schema_optimizers(sub) == [name for name, entry in arms.REGISTRY.items()
                                          if entry.settings == block], block
    assert {e.settings for e in arms.REGISTRY.values()} == set(schema["$defs"])
    raw = secondorder.schema.read()  # as written: no optimizer names typed in
    assert "enum" not in raw["properties"]["arms"]["additionalProperties"]["properties"][
        "optimizer"]
    assert all(sub["properties"]["optimizer"] == {} for sub in raw["$defs"].values())


def test_registry_known_values():
    """Known values: each optimizer's schema block, and what its entry says."""
    assert {n: e.settings for n, e in arms.REGISTRY.items()} == {
        "adam": "first_order", "sgd": "first_order", "rmsprop": "first_order", "lm": "lm",
        "adam_minibatch": "minibatch", "lbfgs": "lbfgs", "scipy_lm_fd": "scipy_lm_fd",
        "scipy_lm_fd_modern": "scipy_lm_fd_modern"}
    assert list(arms.FIRST_ORDER) == ["adam", "sgd", "rmsprop"]
    assert [n for n, e in arms.REGISTRY.items() if e.gpu] == ["adam", "sgd", "rmsprop",
                                                               "adam_minibatch"]
    assert [n for n, e in arms.REGISTRY.items() if e.work is None] == [
        "scipy_lm_fd", "scipy_lm_fd_modern"]
    assert arms.REGISTRY["lm"].max_time == "fit" and arms.REGISTRY["adam"].max_time == "batch"
    assert [n for n, e in arms.REGISTRY.items() if e.row_bytes] == ["lm"]


def test_the_damping_rules_and_jacobians_come_from_the_lm_code():
    from secondorder.optim.lm.damping import RULES
    from secondorder.optim.lm_network import JACOBIANS

    schema = config.load_schema()
    lm = schema["$defs"]["lm"]["properties"]
    assert lm["damping"]["enum"] == list(RULES) == ["marquardt", "nielsen"]
    assert lm["jacobian"]["enum"] == list(JACOBIANS)
    fast = schema["properties"]["bench"]["properties"]["lm_fast"]["properties"]
    assert fast["damping"]["enum"] == list(RULES) and fast["jacobian"]["enum"] == list(JACOBIANS)
    assert fast["scaling"]["enum"] == lm["scaling"]["enum"]
    assert schema["properties"]["study"]["properties"]["lm_jacobian"]["enum"] == [
        None, *JACOBIANS]
    with pytest.raises(ValueError, match=r"allowed values are \['marquardt', 'nielsen'\]"):
        arms.Arm({"optimizer": "lm", "inputs": "raw", "max_iter": 1, "damping": "fletcher"})


def test_an_arm_fills_the_schemas_defaults():
    arm = arms.Arm({"optimizer": "lbfgs", "inputs": "raw", "max_iter": np.int64(3)})
    assert arm == {"optimizer": "lbfgs", "inputs": "raw", "max_iter": 3, "memory": 10,
                   "max_time": None, "restore_best": False}
    assert type(arm["max_iter"]) is int
    assert (arm.optimizer, arm.inputs, dict(arm.settings)) == (
        "lbfgs", "raw", {"max_iter": 3, "memory": 10, "max_time": None,
                         "restore_best": False})
    sgd = arms.Arm({"optimizer": "sgd", "inputs": "raw", "learning_rate": 0.1,
                    "epochs": 2, "patience": 2})
    assert (sgd["engine"], sgd["momentum"], sgd["loss"], sgd["chunk"]) == (
        "compiled", 0.0, "ssq", 250)
    # the compiled loop reports every chunk but lists each epoch's improvement
    assert sgd.budget == ("epoch", 2) and sgd.record_every == "1 epoch"
    assert arm.budget == ("iteration", 3) and arm.record_every == "1 iteration"
    lm = arms.Arm({"optimizer": "lm", "inputs": "raw", "max_iter": 3, "chunk": 50})
    assert lm.record_every == "50 iterations"
    with pytest.raises(ValueError, match="must be one of"):
        arms.Arm({"optimizer": "newton", "inputs": "raw"})
    with pytest.raises(ValueError, match="a dict of settings"):
        arms.Arm(["lbfgs"])


def test_an_arm_is_read_only_and_travels_as_its_dict():
    """Read only (a changed copy is checked); pickled (Snakemake's params), copied,
    printed and written as JSON it is the config entry it came from."""
    plain = {"optimizer": "lm", "inputs": "raw", "max_iter": 5}
    arm = arms.Arm(plain)
    for change in (lambda a: a.__setitem__("max_iter", 6), lambda a: a.update(max_iter=6),
                   lambda a: a.pop("max_iter"), lambda a: a.setdefault("x", 1)):
        with pytest.raises(TypeError, match="read only"):
            change(arm)
    assert arm.replace(max_iter=6)["max_iter"] == 6 and arm["max_iter"] == 5
    with pytest.raises(ValueError, match="arm.max_iter"):
        arm.replace(max_iter=0)
    filled = dict(arm)
    for again in (pickle.loads(pickle.dumps(arm)), copy.deepcopy(arm), arms.Arm(arm)):
        assert type(again) is arms.Arm and again == arm
    assert repr(arm) == repr(filled) and json.dumps(arm) == json.dumps(filled)
    assert arms.as_arm(arm) is arm


def test_settings_are_checked_once_where_they_enter(monkeypatch):
    """A plain dict is checked once at the public entry; an Arm never again below it
    (the study's block, its batches and fits)."""
    rng = np.random.default_rng(0)
    problem = data.Problem(rng.normal(size=(40, 2)), np.eye(2)[rng.integers(0, 2, 40)],
                           np.arange(30), np.arange(30, 40), "raw")
    checks = []
    real = arms.check
    monkeypatch.setattr(arms, "check", lambda *a, **k: checks.append(1) or real(*a, **k))
    plain = {"optimizer": "lbfgs", "inputs": "raw", "max_iter": 2}
    study.train_block(plain, problem, [1, 2], ARCH)
    assert len(checks) == 1
    arm = arms.Arm(plain)
    checks.clear()
    study.train_block(arm, problem, [1, 2], ARCH)
    arms.fit_arm(arm, problem, model.init_weights(1, ARCH), ARCH)
    assert arms.batches(arm) is False and not checks


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

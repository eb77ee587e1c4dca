"""The benchmark suite's data: the registry, the splits, the scaling, load_problem."""

import json

from pathlib import Path

import numpy as np
import pytest

from secondorder.problem import data, datasets

# name: (n, inputs, outputs) of each dataset
SHAPES = {
    "iris": (150, 4, 3), "wine": (178, 13, 3), "breast_cancer": (569, 30, 2),
    "digits": (1797, 64, 10), "diabetes": (442, 10, 1), "spirals": (500, 2, 2),
    "moons": (500, 2, 2), "circles": (500, 2, 2), "checkerboard": (500, 2, 2),
    "friedman1": (500, 10, 1),
}
GENERATED_WITH_NOISE = ["moons", "circles", "checkerboard", "friedman1"]


def test_the_registry_holds_the_ten_problems():
    assert set(datasets.DATASETS) == set(SHAPES)
    for name, ds in datasets.DATASETS.items():
        assert ds.name == name and ds.source
    families = {ds.family for ds in datasets.DATASETS.values()}
    assert families == {"tabular", "generated"}
    regression = {n for n, ds in datasets.DATASETS.items() if ds.task == "regression"}
    assert regression == {"diabetes", "friedman1"}


def test_a_dataset_checks_its_family_and_task():
    with pytest.raises(ValueError, match="family"):
        datasets.Dataset("x", "image", "classification", "", lambda seed: None)
    with pytest.raises(ValueError, match="task"):
        datasets.Dataset("x", "tabular", "ranking", "", lambda seed: None)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_dataset_loads_with_its_shapes(name):
    ds = datasets.DATASETS[name]
    x, y = ds.load(0)
    n, d, k = SHAPES[name]
    assert x.shape == (n, d) and y.shape == (n, k)
    assert x.dtype == np.float64 and y.dtype == np.float64
    assert np.isfinite(x).all() and np.isfinite(y).all()
    if ds.task == "classification":
        assert set(np.unique(y)) == {0.0, 1.0}
        np.testing.assert_array_equal(y.sum(axis=1), np.ones(n))
        assert (y.sum(axis=0) > 0).all()  # every class present
    else:
        assert len(np.unique(y)) > 10


def test_known_class_counts():
    # iris: 50 of each species; breast cancer: 212 malignant, 357 benign (UCI)
    np.testing.assert_array_equal(datasets.DATASETS["iris"].load(0)[1].sum(axis=0), [50] * 3)
    np.testing.assert_array_equal(datasets.DATASETS["breast_cancer"].load(0)[1].sum(axis=0),
                                  [212, 357])


def test_spirals_are_the_articles():
    x, y = datasets.DATASETS["spirals"].load(7)
    spiral = data.spiral_data(500)
    np.testing.assert_array_equal(x, spiral[:, :2])
    np.testing.assert_array_equal(y, spiral[:, 2:])


@pytest.mark.parametrize("name", GENERATED_WITH_NOISE)
def test_generated_data_depend_only_on_the_seed(name):
    load = datasets.DATASETS[name].load
    x1, y1 = load(3)
    x2, y2 = load(3)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    x3, _ = load(4)
    assert not np.array_equal(x1, x3)


def test_bundled_data_ignore_the_seed():
    x1, y1 = datasets.DATASETS["wine"].load(0)
    x2, y2 = datasets.DATASETS["wine"].load(5)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


def test_checkerboard_classes_are_the_parity_of_the_cells():
    x, y = datasets.checkerboard(2000, seed=1)
    assert (x >= -1).all() and (x < 1).all()
    # hand-checked cells: (0.1, 0.1) in cells (0, 0) -> even; (0.6, 0.1) in (1, 0) -> odd;
    # (-0.1, 0.1) in (-1, 0) -> odd; (-0.6, -0.6) in (-2, -2) -> even
    for px, py, odd in [(0.1, 0.1, 0), (0.6, 0.1, 1), (-0.1, 0.1, 1), (-0.6, -0.6, 0)]:
        near = np.abs(x - [px, py]).max(axis=1) < 0.05
        assert near.any()
        np.testing.assert_array_equal(np.argmax(y[near], axis=1), odd)
    # a 4 x 4 board: 16 cells, balanced classes on average
    cells = {tuple(c) for c in np.floor(2 * x).astype(int)}
    assert len(cells) == 16
    assert 0.45 < y[:, 0].mean() < 0.55


# --- splits ----------------------------------------------------------------------------


@pytest.mark.parametrize("n,sizes", [
    (150, (90, 30, 30)), (500, (300, 100, 100)),
    # 178: n f = 106.8, 35.6, 35.6 -> floors 106, 35, 35, two rows left over go to the
    # largest remainders: train (0.8) and validation (0.6, before test's equal 0.6)
    (178, (107, 36, 35)),
    # 442: 265.2, 88.4, 88.4 -> 265, 88, 88 + one row to validation
    (442, (265, 89, 88)),
    (5, (3, 1, 1))])
def test_split_sizes_follow_the_fractions(n, sizes):
    train, val, test = datasets.split_rows(n, seed=0)
    assert (len(train), len(val), len(test)) == sizes
    rows = np.concatenate([train, val, test])
    np.testing.assert_array_equal(np.sort(rows), np.arange(n))  # disjoint and covering
    assert train.dtype.kind == "i"


def test_other_fractions():
    sizes = datasets.split_sizes(1000, (0.7, 0.15, 0.15))
    assert sizes == (700, 150, 150)
    train, val, test = datasets.split_rows(10, 0, (0.5, 0.3, 0.2))
    assert (len(train), len(val), len(test)) == (5, 3, 2)


def test_splits_are_reproducible_and_depend_on_the_seed():
    a = datasets.split_rows(500, seed=1)
    b = datasets.split_rows(500, seed=1)
    c = datasets.split_rows(500, seed=2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    # the documented construction: slices of default_rng(seed).permutation(n)
    perm = np.random.default_rng(1).permutation(500)
    np.testing.assert_array_equal(np.concatenate(a), perm)


@pytest.mark.parametrize("fractions,match", [
    ((0.6, 0.2, 0.1), "sum to 1"), ((0.6, 0.5, -0.1), "positive"),
    ((1.0, 0.0, 0.0), "positive"), ((0.5, 0.5), "three"), ((0.6, 0.2, float("nan")), "positive")])
def test_bad_fractions_raise(fractions, match):
    with pytest.raises(ValueError, match=match):
        datasets.split_rows(100, 0, fractions)


def test_too_few_rows_raise():
    with pytest.raises(ValueError, match="at least one row"):
        datasets.split_rows(4, 0, (0.9, 0.05, 0.05))  # sizes would be (4, 0, 0)
    with pytest.raises(ValueError, match="at least one row"):
        datasets.split_rows(3, 0)  # 1.8, 0.6, 0.6 -> (2, 1, 0)
    with pytest.raises(ValueError, match="n must be"):
        datasets.split_rows(2, 0)


# --- standardising ---------------------------------------------------------------------


def test_standardise_uses_the_given_rows_only():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(200, 3))
    x[150:] += 10.0  # the other rows differ: statistics over all rows would be off
    rows = np.arange(150)
    z, scaler = datasets.standardise(x, rows)
    np.testing.assert_allclose(z[rows].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z[rows].std(axis=0), 1, rtol=1e-12)
    assert (np.abs(z.mean(axis=0)) > 0.5).all()  # not standardised over all rows
    np.testing.assert_allclose(scaler["mean"], x[rows].mean(axis=0))
    np.testing.assert_allclose(scaler["std"], x[rows].std(axis=0))
    # the other rows are scaled with the same numbers
    np.testing.assert_allclose(z[150:], (x[150:] - scaler["mean"]) / scaler["std"])


def test_standardise_known_values():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [100.0, 7.0]])
    z, scaler = datasets.standardise(x, [0, 1])
    # column 0 on rows 0, 1: mean 2, population std 1; column 1 constant (5) on them
    assert scaler == {"mean": [2.0, 5.0], "std": [1.0, 1.0]}
    np.testing.assert_array_equal(z, [[-1.0, 0.0], [1.0, 0.0], [98.0, 2.0]])


def test_standardise_keeps_constant_columns_finite():
    x = np.full((6, 2), 0.1)
    x[:, 1] = np.arange(6)
    z, scaler = datasets.standardise(x, np.arange(6))
    assert scaler["std"][0] == 1.0
    np.testing.assert_array_equal(z[:, 0], 0.0)  # exactly 0, though mean(0.1 x 6) != 0.1


# --- the problem -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["iris", "diabetes", "digits"])
def test_load_problem(name):
    problem, info = datasets.load_problem(name, split_seed=3, data_seed=1)
    n, d, k = SHAPES[name]
    assert isinstance(problem, data.Problem) and problem.inputs == "standardised"
    assert problem.x_all.shape == (n, d) and problem.y_all.shape == (n, k)
    info = json.loads(json.dumps(info))  # JSON-ready
    assert (info["name"], info["n"], info["n_inputs"], info["n_outputs"]) == (name, n, d, k)
    assert info["family"] == "tabular" and info["split_seed"] == 3 and info["data_seed"] == 1
    expected = datasets.split_rows(n, 3)
    for part, rows, mine in zip(("train", "validation", "test"), expected,
                                (problem.train, problem.validation, problem.test)):
        assert info["rows"][part] == rows.tolist() == mine.tolist()
        assert info["sizes"][part] == len(rows)
    # inputs standardised on the training rows (constant digits pixels stay at 0)
    x_train = problem.x_train
    np.testing.assert_allclose(x_train.mean(axis=0), 0, atol=1e-12)
    std = x_train.std(axis=0)
    assert np.all(np.isclose(std, 1, rtol=1e-12) | (std == 0))
    assert len(info["input_mean"]) == len(info["input_std"]) == d
    if info["task"] == "regression":
        np.testing.assert_allclose(problem.y_train.mean(), 0, atol=1e-12)
        np.testing.assert_allclose(problem.y_train.std(), 1, rtol=1e-12)
        assert len(info["target_mean"]) == len(info["target_std"]) == 1
        # the original targets are recovered from the recorded scaling
        _, y_raw = datasets.DATASETS[name].load(1)
        np.testing.assert_allclose(problem.y_all * info["target_std"][0]
                                   + info["target_mean"][0], y_raw, rtol=1e-12)
    else:
        assert "target_mean" not in info
        np.testing.assert_array_equal(problem.y_all.sum(axis=1), 1.0)


def test_digits_has_constant_pixels_on_its_training_rows():
    problem, info = datasets.load_problem("digits")
    x_raw, _ = datasets.DATASETS["digits"].load(0)
    constant = x_raw[problem.train].max(axis=0) == x_raw[problem.train].min(axis=0)
    assert constant.any()
    assert np.array(info["input_std"])[constant].tolist() == [1.0] * constant.sum()
    assert np.isfinite(problem.x_all).all()


def test_load_problem_reproducible_and_seeded():
    a, _ = datasets.load_problem("moons", split_seed=0, data_seed=0)
    b, _ = datasets.load_problem("moons", split_seed=0, data_seed=0)
    np.testing.assert_array_equal(a.x_all, b.x_all)
    np.testing.assert_array_equal(a.train, b.train)
    c, _ = datasets.load_problem("moons", split_seed=1, data_seed=0)
    assert not np.array_equal(a.train, c.train)
    d, _ = datasets.load_problem("moons", split_seed=0, data_seed=1)
    np.testing.assert_array_equal(a.train, d.train)
    assert not np.array_equal(a.y_all, d.y_all) or not np.array_equal(a.x_all, d.x_all)


def test_unknown_names_raise_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*iris"):
        datasets.load_problem("mnist")


# --- your own data ---------------------------------------------------------------------


def _csv(tmp_path, text, name="mine.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _spec(path, **extra):
    return {"path": str(path), "features": ["a", "b"], "target": "label",
            "task": "classification", **extra}


ROWS = "".join(f"{i % 7},{i * 0.5},{'yes' if i % 2 else 'no'}\n" for i in range(20))


def test_a_csv_classification_problem_runs_through_load_problem(tmp_path):
    path = _csv(tmp_path, "a,b,label,unused\n" + "".join(
        line.rstrip("\n") + ",x\n" for line in ROWS.splitlines(keepends=True)))
    csv = {"mine": _spec(path)}
    problem, info = datasets.load_problem("mine", split_seed=3, csv_problems=csv)
    assert info["family"] == "own" and info["task"] == "classification"
    assert info["classes"] == ["no", "yes"]  # sorted labels, one-hot in that order
    assert (info["n"], info["n_inputs"], info["n_outputs"]) == (20, 2, 2)
    assert info["sizes"] == {"train": 12, "validation": 4, "test": 4}
    # row 1 is 'yes' (class 1), row 0 'no'
    np.testing.assert_array_equal(problem.y_all[:2], [[1, 0], [0, 1]])
    assert problem.x_train.mean(axis=0) == pytest.approx([0, 0], abs=1e-12)
    assert datasets.task_of("mine", csv) == "classification"
    assert datasets.get_dataset("mine", {"mine": _spec(path, family="tabular")}).family == \
        "tabular"


def test_a_csv_regression_problem(tmp_path):
    path = _csv(tmp_path, "a,b,y\n" + "".join(f"{i},{i % 3},{2.5 * i}\n" for i in range(10)))
    problem, info = datasets.load_problem(
        "reg", csv_problems={"reg": {"path": str(path), "features": ["a", "b"],
                                     "target": "y", "task": "regression"}})
    assert info["task"] == "regression" and info["n_outputs"] == 1 and "classes" not in info
    assert problem.y_train.mean() == pytest.approx(0.0, abs=1e-12)  # standardised


@pytest.mark.parametrize("text,spec,match", [
    (None, {}, r"CSV file '.*nowhere.csv' does not exist \(config key "
               r"'suite.csv_problems.mine.path'"),
    ("a,b,label\n" + ROWS, {"features": ["a", "c"]}, r"has no column\(s\) \['c'\].*"
                                                     r"its columns are \['a', 'b', 'label'\]"),
    ("a,b,label\n" + ROWS, {"target": "class"}, r"no column\(s\) \['class'\]"),
    ("a,b,label\n1,x,yes\n" + ROWS, {}, r"column 'b' .* must hold finite numbers; line 2 has "
                                        r"'x'"),
    ("a,b,label\n1,,yes\n" + ROWS, {}, r"column 'b' .* line 2 has an empty cell"),
    ("a,b,label\n" + ROWS + "1,2,maybe\n", {}, r"needs at least 5 rows.*'maybe' has 1"),
    ("a,b,label\n" + "".join(f"{i},{i},same\n" for i in range(10)), {},
     r"two or more classes; only the class 'same'"),
    ("a,b,label\n" + ROWS + "1,2,\n", {}, r"target column 'label' .* is empty on line 22"),
    ("a,b,y\n1,2,three\n" + "".join(f"{i},{i},{i}\n" for i in range(10)),
     {"target": "y", "task": "regression"}, r"column 'y' .* line 2 has 'three'"),
    ("a,b,label\n" + ROWS, {"features": ["a", "label"]}, r"target column 'label' is also a "
                                                         r"feature"),
])
def test_a_bad_csv_problem_says_what_is_wrong(tmp_path, text, spec, match):
    path = tmp_path / "nowhere.csv" if text is None else _csv(tmp_path, text)
    with pytest.raises(ValueError, match=match):
        datasets.csv_dataset("mine", {**_spec(path), **spec})


# --- a real public CSV with missing values: the Palmer penguins (tests/data/README.md) ----

PENGUINS = Path(__file__).parent / "data" / "penguins.csv"
MEASUREMENTS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def _penguins(**extra):
    return {"path": str(PENGUINS), "target": "species", "task": "classification", **extra}


def test_penguins_with_missing_values_dropped_run_through_load_problem():
    """features: numeric picks the four measurements and the year (island and sex are
    text); missing: drop removes the two rows without measurements (file lines 5 and
    273) and says so in the problem's record; the rows missing only sex, not a feature,
    stay."""
    csv = {"penguins": _penguins(features="numeric", missing="drop")}
    problem, info = datasets.load_problem("penguins", split_seed=1, csv_problems=csv)
    assert info["csv"] == {"path": str(PENGUINS), "features": [*MEASUREMENTS, "year"],
                           "target": "species", "columns_left_out": ["island", "sex"],
                           "missing": "drop", "rows_read": 344, "rows_dropped": 2}
    assert (info["n"], info["n_inputs"], info["n_outputs"]) == (342, 5, 3)
    assert info["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert sum(info["sizes"].values()) == 342 and len(problem.test) == info["sizes"]["test"]
    assert np.isfinite(problem.x_all).all()
    assert problem.x_train.mean(axis=0) == pytest.approx(np.zeros(5), abs=1e-9)
    assert problem.y_all.sum(axis=0).tolist() == [151, 68, 123]  # one Adelie, one Gentoo gone
    assert "2 of 344 rows dropped for missing values" in info["source"]


def test_penguins_features_by_exclusion():
    """{exclude: [...]}: every other column but the target, all numbers; a text column
    not excluded is named."""
    dataset = datasets.csv_dataset("penguins", _penguins(
        features={"exclude": ["island", "sex", "year"]}, missing="drop"))
    assert dataset.csv["features"] == MEASUREMENTS
    x, y = dataset.load(0)
    assert x.shape == (342, 4) and y.shape == (342, 3)
    with pytest.raises(ValueError, match=r"column\(s\) \['island', 'sex'\] do not hold "
                                         r"numbers.*features.exclude"):
        datasets.csv_dataset("penguins", _penguins(features={"exclude": ["year"]}))
    with pytest.raises(ValueError, match=r"has no column\(s\) \['colour'\]"):
        datasets.csv_dataset("penguins", _penguins(features={"exclude": ["colour"]}))


def test_penguins_missing_values_stop_the_run_by_default_naming_the_line():
    with pytest.raises(ValueError, match=r"column 'bill_length_mm' .* line 5 has an empty "
                                         r"cell \(2 such row\(s\).*missing: drop removes"):
        datasets.csv_dataset("penguins", _penguins(features="numeric"))
    # a named text column is no feature, missing values or not
    with pytest.raises(ValueError, match=r"column 'sex' .* line 2 has 'male'"):
        datasets.csv_dataset("penguins", _penguins(features=[*MEASUREMENTS, "sex"],
                                                   missing="drop"))


def test_a_csv_problem_joins_the_full_suite_and_any_scope(tmp_path, root):
    """A config file adds a CSV problem without retyping suite.problems: it joins the
    full suite, and a scope may name it (or any built-in problem)."""
    import yaml

    from secondorder import config as cfg
    from secondorder.pipeline.suite import scopes

    conf = yaml.safe_load((root / "config" / "config.yaml").read_text())
    conf["suite"] = {"csv_problems": {"penguins": _penguins(features="numeric",
                                                           missing="drop")},
                     "scopes": {"mine": {"problems": ["penguins", "moons"],
                                         "sizes": ["small"], "inits": 1}}}
    conf = cfg.validate(cfg.with_suite(conf, root / "config" / "suite.yaml"))
    full = scopes.scope_settings(conf["suite"], "full")["problems"]
    assert full[-1] == "penguins" and full[:-1] == conf["suite"]["problems"]
    assert "penguins" not in conf["suite"]["problems"]
    assert {p for p, _, _ in scopes.jobs(conf["suite"], "mine")} == {"penguins", "moons"}
    conf["suite"]["scopes"]["mine"]["problems"] = ["penguins", "mnist"]
    with pytest.raises(cfg.ConfigError, match=r"scopes.mine.problems': unknown problem "
                                              r"'mnist'; known are \['breast_cancer'"):
        cfg.validate(conf)


def test_the_readme_example_of_your_own_data_is_valid(root):
    """The config file of README's "Your own data in the suite", with its CSV file
    the penguins, passes the config check and gives its scope's jobs."""
    import re

    import yaml

    from secondorder import config as cfg
    from secondorder.pipeline.suite import scopes

    readme = (root / "README.md").read_text()
    section = readme[readme.index("**Your own data in the suite.**"):]
    mine = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    mine["suite"]["csv_problems"]["penguins"]["path"] = str(PENGUINS)
    conf = yaml.safe_load((root / "config" / "config.yaml").read_text())
    conf["suite"] = mine["suite"]
    conf = cfg.validate(cfg.with_suite(conf, root / "config" / "suite.yaml"))
    assert {p for p, _, _ in scopes.jobs(conf["suite"], "mine")} == {"penguins", "iris"}


def test_bad_feature_forms_are_named_by_the_config_check(root):
    import yaml

    from secondorder import config as cfg

    conf = yaml.safe_load((root / "config" / "config.yaml").read_text())
    conf["suite"] = {"csv_problems": {"penguins": _penguins(features="numbers")}}
    with pytest.raises(cfg.ConfigError, match=r"csv_problems.penguins.features': 'numbers' "
                                              r"is not allowed; input columns: a list"):
        cfg.validate(cfg.with_suite(conf, root / "config" / "suite.yaml"))


def test_the_config_check_reads_the_csv_file(tmp_path, root):
    """A bad CSV problem stops the run at the config check, before any job."""
    import copy

    import yaml

    from secondorder import config as cfg

    conf = yaml.safe_load((root / "config" / "config.yaml").read_text())
    conf = cfg.with_suite(conf, root / "config" / "suite.yaml")
    good = _csv(tmp_path, "a,b,label\n" + ROWS)
    conf["suite"]["csv_problems"] = {"mine": _spec(good)}
    conf["suite"]["problems"].append("mine")
    cfg.validate(copy.deepcopy(conf))
    conf["suite"]["csv_problems"]["mine"]["features"] = ["a", "z"]
    conf["suite"]["csv_problems"]["iris"] = _spec(good)
    conf["suite"]["problems"].append("mnist")
    with pytest.raises(cfg.ConfigError) as err:
        cfg.validate(conf)
    text = str(err.value)
    assert "no column(s) ['z']" in text and "unknown problem 'mnist'" in text
    assert "suite.csv_problems.iris': the name is taken" in text

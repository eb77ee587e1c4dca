"""The benchmark suite's data: ten small problems, their splits and their scaling.

The suite tests the claim that second-order methods should be the default for
moderately sized data and models on more than the article's one problem. It holds
ten problems, all available offline:

* five bundled with scikit-learn (``family="tabular"``): ``iris``, ``wine``,
  ``breast_cancer`` and ``digits`` (8x8 images) for classification, ``diabetes`` for
  regression;
* five generated (``family="generated"``): the article's ``spirals``, scikit-learn's
  ``moons`` and ``circles``, a 2-D ``checkerboard`` (XOR-like) and ``friedman1``
  (regression).

scikit-learn is used for its dataset loaders and generators only. Generated data
depend only on ``data_seed`` (passed as ``random_state``, or to
``np.random.default_rng``); the bundled data and the article's spirals (which have
no noise) ignore it.

Each problem is split at random into training, validation and test rows
(:func:`split_rows`, 60/20/20 by default, from ``split_seed``). Inputs are then
standardised with the mean and standard deviation of the training rows
(:func:`standardise`); regression targets are standardised the same way, so the
sums of squares of different problems are on comparable scales. Whether LM should see
raw or scaled inputs is settled by the project's robustness study (the article gave
LM raw and Adam scaled inputs); the suite gives every arm the same standardised
inputs to remove that confound from the comparison of optimizers.

Classification targets are one-hot (one column per class), regression targets one
column, as the least-squares (SSQ) losses of every arm expect.

Your own data (``family="own"``): a CSV file named in the config
(``suite.csv_problems``), with its feature columns, its target column and its task,
becomes a problem like the others (:func:`csv_dataset`) and joins the full suite's
problems (:func:`suite_problems`); it is checked when it is read, with an error naming
the file and the column for a missing file, a missing column, a value that is not a
number, or a class with too few rows. Its features may be named, or picked by type
(every numeric column, or every column but some); rows with missing values stop the
run, naming the line, or are dropped and counted (``missing: drop``).
"""

from __future__ import annotations

import importlib.metadata
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from secondorder.problem import data
from secondorder.problem.data import Problem

FAMILIES = ("tabular", "generated", "own")
TASKS = ("classification", "regression")

#: Default train / validation / test fractions of :func:`split_rows`.
FRACTIONS = (0.6, 0.2, 0.2)

#: Samples drawn by every generator (the article's spirals have 500 points too).
N_GENERATED = 500


@dataclass(frozen=True)
class Dataset:
    """One problem of the suite.

    ``load(seed)`` returns ``(x, y)``: float64 inputs ``(n, d)`` and targets, one-hot
    ``(n, k)`` for classification, ``(n, 1)`` for regression. ``source`` says in one
    line where the data come from, with a reference. ``classes``: the labels of the
    one-hot columns, in order, where the data name them (a CSV problem's). ``csv``: how
    a CSV problem's file was read (JSON-ready: its feature columns, the rows read and
    dropped, the columns left out), recorded in each suite job's JSON.
    """

    name: str
    family: str
    task: str
    source: str
    load: Callable[[int], tuple[np.ndarray, np.ndarray]]
    classes: tuple = ()
    csv: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {list(FAMILIES)}, got {self.family!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {self.task!r}")


# --- loaders ---------------------------------------------------------------------------


def _classes(x, labels, nclass: int):
    """Inputs as float64 and one-hot targets from labels ``0..nclass-1``."""
    return (np.ascontiguousarray(x, dtype=np.float64),
            data.one_hot(np.asarray(labels, dtype=int) + 1, nclass))


def _regression(x, y):
    return (np.ascontiguousarray(x, dtype=np.float64),
            np.asarray(y, dtype=np.float64).reshape(-1, 1))


def _iris(seed: int):
    from sklearn.datasets import load_iris
    x, labels = load_iris(return_X_y=True)
    return _classes(x, labels, 3)


def _wine(seed: int):
    from sklearn.datasets import load_wine
    x, labels = load_wine(return_X_y=True)
    return _classes(x, labels, 3)


def _breast_cancer(seed: int):
    from sklearn.datasets import load_breast_cancer
    x, labels = load_breast_cancer(return_X_y=True)
    return _classes(x, labels, 2)


def _digits(seed: int):
    from sklearn.datasets import load_digits
    x, labels = load_digits(return_X_y=True)
    return _classes(x, labels, 10)


def _diabetes(seed: int):
    from sklearn.datasets import load_diabetes
    # scaled=False: the original measurements (scikit-learn's default pre-scales each
    # column over all 442 rows, which would leak the validation and test rows into
    # the scaling); the suite standardises from the training rows itself.
    x, y = load_diabetes(return_X_y=True, scaled=False)
    return _regression(x, y)


def _spirals(seed: int):
    # The article's generator has no noise: the seed is ignored.
    spiral = data.spiral_data(N_GENERATED)
    return np.ascontiguousarray(spiral[:, :2]), spiral[:, 2:].copy()


def _moons(seed: int):
    from sklearn.datasets import make_moons
    x, labels = make_moons(N_GENERATED, noise=0.2, random_state=seed)
    return _classes(x, labels, 2)


def _circles(seed: int):
    from sklearn.datasets import make_circles
    x, labels = make_circles(N_GENERATED, noise=0.1, factor=0.5, random_state=seed)
    return _classes(x, labels, 2)


def checkerboard(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An XOR-like 4x4 checkerboard on ``[-1, 1)^2``.

    ``n`` points uniform on ``[-1, 1)^2`` from ``np.random.default_rng(seed)``; the
    class of ``(x, y)`` is the parity of ``floor(2x) + floor(2y)``: each axis is cut
    into four cells of width 1/2 (``floor(2x)`` in ``-2..1``), neighbouring cells
    have different classes, as in XOR. Returns inputs ``(n, 2)`` and one-hot
    targets ``(n, 2)`` (class 1 = even parity).
    """
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(n, 2))
    parity = np.mod(np.floor(2 * x[:, 0]) + np.floor(2 * x[:, 1]), 2).astype(int)
    return _classes(x, parity, 2)


def _checkerboard(seed: int):
    return checkerboard(N_GENERATED, seed)


def _friedman1(seed: int):
    from sklearn.datasets import make_friedman1
    x, y = make_friedman1(N_GENERATED, n_features=10, noise=1.0, random_state=seed)
    return _regression(x, y)


#: The suite's problems by name.
DATASETS: dict[str, Dataset] = {ds.name: ds for ds in (
    Dataset("iris", "tabular", "classification",
            "scikit-learn load_iris: Fisher (1936), UCI Iris; 150 x 4, 3 classes", _iris),
    Dataset("wine", "tabular", "classification",
            "scikit-learn load_wine: UCI Wine (Aeberhard & Forina 1991); 178 x 13, 3 classes",
            _wine),
    Dataset("breast_cancer", "tabular", "classification",
            "scikit-learn load_breast_cancer: UCI Breast Cancer Wisconsin (Diagnostic), "
            "Street, Wolberg & Mangasarian (1993); 569 x 30, 2 classes", _breast_cancer),
    Dataset("digits", "tabular", "classification",
            "scikit-learn load_digits: UCI Optical Recognition of Handwritten Digits, "
            "8x8 (Alpaydin & Kaynak 1998); 1797 x 64, 10 classes", _digits),
    Dataset("diabetes", "tabular", "regression",
            "scikit-learn load_diabetes(scaled=False): Efron, Hastie, Johnstone & "
            "Tibshirani (2004), Least angle regression; 442 x 10, disease progression",
            _diabetes),
    Dataset("spirals", "generated", "classification",
            "secondorder.problem.data.spiral_data(500): the article's two spirals "
            "(TensorFlow Playground); no noise, seed ignored; 500 x 2, 2 classes", _spirals),
    Dataset("moons", "generated", "classification",
            "scikit-learn make_moons(500, noise=0.2, random_state=seed); 500 x 2, 2 classes",
            _moons),
    Dataset("circles", "generated", "classification",
            "scikit-learn make_circles(500, noise=0.1, factor=0.5, random_state=seed); "
            "500 x 2, 2 classes", _circles),
    Dataset("checkerboard", "generated", "classification",
            "secondorder.problem.datasets.checkerboard(500, seed): uniform on [-1,1)^2, "
            "class = parity of floor(2x) + floor(2y) (4x4 board); 500 x 2, 2 classes",
            _checkerboard),
    Dataset("friedman1", "generated", "regression",
            "scikit-learn make_friedman1(500, noise=1.0, random_state=seed): Friedman "
            "(1991), Multivariate adaptive regression splines; 500 x 10 (5 irrelevant)",
            _friedman1),
)}


#: A class of a CSV problem needs at least this many rows: at 60/20/20, each of the
#: training, validation and test parts then expects at least one.
MIN_ROWS_PER_CLASS = 5


#: What ``missing`` may say of a CSV problem's rows with a missing value.
MISSING = ("error", "drop")


def _is_numeric(column) -> bool:
    """Whether a column as pandas read it holds numbers (booleans are not features)."""
    import pandas as pd

    return (pd.api.types.is_numeric_dtype(column)
            and not pd.api.types.is_bool_dtype(column))


def csv_features(table, spec: dict, name: str = "csv") -> tuple[list[str], list[str]]:
    """The feature columns of a CSV problem ``name`` (its ``table`` as pandas read it)
    and the columns left out.

    ``spec["features"]`` is a list of column names (those, in that order), ``numeric``
    (every column but the target that pandas reads as numbers, missing cells allowed;
    the others are left out and listed), or ``{"exclude": [names]}`` (every column but
    the target and those, each of which must hold numbers). Non-numeric features are
    not encoded (one-hot): their categories would have to be chosen before the split
    and their columns scaled like numbers, so the file's author encodes them, or leaves
    them out. ValueError naming the problem, the file and the config key for a column
    that does not exist, a non-numeric column under ``exclude``, or no feature at all.
    """
    key = f"suite.csv_problems.{name}"
    where = f"suite problem {name!r}: {str(spec['path'])!r}"
    target, chosen = spec["target"], spec["features"]
    columns = [c for c in table.columns if c != target]
    named = [*chosen, target] if isinstance(chosen, list) else [target]
    absent = [c for c in named if c not in table.columns]
    if isinstance(chosen, dict) and isinstance(chosen.get("exclude"), list):
        absent += [c for c in chosen["exclude"] if c not in table.columns]
    if absent:
        raise ValueError(f"{where} has no column(s) {absent} (config key '{key}'); its "
                         f"columns are {list(table.columns)}")
    if isinstance(chosen, list):
        if target in chosen:
            raise ValueError(f"suite problem {name!r}: the target column {target!r} is also "
                             f"a feature (config key '{key}.features')")
        return list(chosen), [c for c in columns if c not in chosen]
    if chosen == "numeric":
        features = [c for c in columns if _is_numeric(table[c])]
    elif isinstance(chosen, dict) and set(chosen) == {"exclude"}:
        features = [c for c in columns if c not in chosen["exclude"]]
        text = [c for c in features if not _is_numeric(table[c])]
        if text:
            raise ValueError(f"{where}: column(s) {text} do not hold numbers, and features "
                             "are numbers (categories are not encoded): add them to "
                             f"features.exclude, or use features: numeric (config key "
                             f"'{key}.features')")
    else:
        raise ValueError(f"suite problem {name!r}: features must be a list of columns, "
                         f"'numeric' or {{exclude: [columns]}}, got {chosen!r} (config key "
                         f"'{key}.features')")
    if not features:
        raise ValueError(f"{where}: no feature column is left (config key "
                         f"'{key}.features': {chosen!r})")
    return features, [c for c in columns if c not in features]


def csv_dataset(name: str, spec: dict) -> Dataset:
    """Your own problem from a CSV file (``spec``: an entry of ``suite.csv_problems``:
    ``path`` (relative to the working directory), ``features`` (column names,
    ``numeric`` or ``{exclude: [...]}``: :func:`csv_features`), ``target`` (a column
    name), ``task`` (classification or regression) and optionally ``missing``
    (``error``, the default, or ``drop``) and ``family`` (default ``own``)).

    The file is read and checked here, so a bad file stops the run before any job:
    ValueError naming the file (and the config key) when it does not exist or cannot
    be parsed, the column when a named column is missing, the column, line and value
    when a feature (or a regression target) is not a number, and the class when a
    classification target has a class with fewer than :data:`MIN_ROWS_PER_CLASS` rows.
    A missing value (an empty cell, or one of pandas' missing-value markers such as
    ``NA``) in a feature or the target stops the run naming its line, or with
    ``missing: drop`` removes its row; the rows read and dropped are recorded
    (``Dataset.csv``). Classes are the target's distinct values in sorted order
    (``Dataset.classes``); ``load`` ignores its seed.
    """
    import pandas as pd

    key = f"suite.csv_problems.{name}"
    path = Path(spec["path"])
    if not path.is_file():
        raise ValueError(f"suite problem {name!r}: the CSV file {str(path)!r} does not exist "
                         f"(config key '{key}.path', relative to {str(Path.cwd())!r})")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"suite problem {name!r}: cannot read {str(path)!r} as CSV: "
                         f"{exc}") from None
    target, task = spec["target"], spec["task"]
    missing_rule = spec.get("missing", "error")
    if task not in TASKS:
        raise ValueError(f"suite problem {name!r}: task must be one of {list(TASKS)}, got "
                         f"{task!r} (config key '{key}.task')")
    if missing_rule not in MISSING:
        raise ValueError(f"suite problem {name!r}: missing must be one of {list(MISSING)}, "
                         f"got {missing_rule!r} (config key '{key}.missing')")
    features, left_out = csv_features(table, spec, name)
    rows_read = len(table)
    used = [*features, target]
    incomplete = table[used].isna().any(axis=1)
    if missing_rule == "drop":
        table = table[~incomplete]
    numeric = features + ([target] if task == "regression" else [])
    for column in numeric:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() | ~np.isfinite(values.to_numpy(float)))
        if len(bad):
            value = table[column].iloc[bad[0]]
            shown = "an empty cell" if pd.isna(value) else repr(value)
            hint = "; missing: drop removes such rows" if pd.isna(value) else ""
            raise ValueError(
                f"suite problem {name!r}: column {column!r} of {str(path)!r} must hold "
                f"finite numbers; line {table.index[bad[0]] + 2} has {shown} "
                f"({len(bad)} such row(s); line 1 is the header){hint}")
    x = table[features].apply(pd.to_numeric).to_numpy(dtype=np.float64)
    if task == "regression":
        y = table[[target]].apply(pd.to_numeric).to_numpy(dtype=np.float64)
        classes = ()
    else:
        labels = table[target]
        if labels.isna().any():
            line = int(table.index[np.flatnonzero(labels.isna().to_numpy())[0]]) + 2
            raise ValueError(f"suite problem {name!r}: the target column {target!r} of "
                             f"{str(path)!r} is empty on line {line}; missing: drop "
                             "removes such rows")
        counts = labels.value_counts()
        few = counts[counts < MIN_ROWS_PER_CLASS]
        if len(few) or len(counts) < 2:
            detail = (", ".join(f"{c!r} has {n}" for c, n in few.items()) if len(few)
                      else f"only the class {counts.index[0]!r}")
            raise ValueError(f"suite problem {name!r}: every class of {target!r} needs at "
                             f"least {MIN_ROWS_PER_CLASS} rows, and there must be two or "
                             f"more classes; {detail} (in {str(path)!r})")
        classes = tuple(sorted(counts.index.tolist()))
        index = {c: i for i, c in enumerate(classes)}
        x, y = _classes(x, labels.map(index).to_numpy(), len(classes))
    dropped = rows_read - len(x)
    record = {"path": str(path), "features": features, "target": target,
              "columns_left_out": left_out, "missing": missing_rule,
              "rows_read": rows_read, "rows_dropped": dropped}
    source = (f"your own data: {str(path)}, features {features}, target {target!r}; "
              f"{len(x)} x {x.shape[1]}" + (f", {len(classes)} classes" if classes else "")
              + (f"; {dropped} of {rows_read} rows dropped for missing values"
                 if dropped else ""))
    return Dataset(name, spec.get("family", "own"), task, source,
                   lambda seed: (x.copy(), y.copy()), classes=tuple(map(str, classes)),
                   csv=record)


def suite_problems(suite: dict) -> list[str]:
    """The full suite's problems: ``suite.problems``, then every CSV problem of
    ``suite.csv_problems`` not already named there (so adding a CSV problem needs no
    retyping of the list, which a config file would replace whole)."""
    named = list(suite["problems"])
    return named + [p for p in (suite.get("csv_problems") or {}) if p not in named]


def known_problems(suite: dict) -> list[str]:
    """Every problem a scope may name: the built-in ones and the CSV problems."""
    return sorted(DATASETS) + sorted(suite.get("csv_problems") or {})


def get_dataset(name: str, csv_problems: dict | None = None) -> Dataset:
    """The dataset ``name``: one of :data:`DATASETS`, or a CSV problem of
    ``csv_problems`` (``suite.csv_problems``, :func:`csv_dataset`); ValueError listing
    the known names otherwise."""
    csv_problems = csv_problems or {}
    if isinstance(name, str) and name in csv_problems:
        return csv_dataset(name, csv_problems[name])
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; known: "
                         f"{sorted(DATASETS) + sorted(csv_problems)}") from None


def task_of(name: str, csv_problems: dict | None = None) -> str:
    """The task of problem ``name`` without reading its data (a CSV problem's from its
    config entry)."""
    csv_problems = csv_problems or {}
    if name in csv_problems:
        return csv_problems[name]["task"]
    return get_dataset(name).task


# --- splitting and scaling -------------------------------------------------------------


def split_sizes(n: int, fractions=FRACTIONS) -> tuple[int, ...]:
    """Rows per part: ``floor(n f_i)``, the rows left over going one each to the parts
    with the largest remainders ``n f_i - floor(n f_i)`` (ties: the earlier part), so
    every size is within one row of ``n f_i`` and the sizes sum to ``n`` (the
    largest-remainder, or Hamilton, method).

    ValueError when the fractions are not positive or do not sum to 1 (within
    ``1e-9``), or when ``n`` is too small to give every part at least one row.
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) == 0 or not all(math.isfinite(f) and f > 0 for f in fractions):
        raise ValueError(f"fractions must be positive numbers, got {fractions}")
    if not math.isclose(sum(fractions), 1.0, rel_tol=0.0, abs_tol=1e-9):
        raise ValueError(f"fractions must sum to 1, got {fractions} (sum {sum(fractions)!r})")
    if int(n) != n or n < len(fractions):
        raise ValueError(f"n must be an integer >= {len(fractions)} to give each of the "
                         f"{len(fractions)} parts a row, got {n!r}")
    n = int(n)
    # 1e-9 absorbs rounding in n * f (e.g. 150 * 0.6 may be 89.999...)
    exact = [n * f + 1e-9 for f in fractions]
    sizes = [math.floor(e) for e in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in by_remainder[:n - sum(sizes)]:
        sizes[i] += 1
    if min(sizes) < 1:
        raise ValueError(f"n = {n} rows are too few for fractions {fractions}: the sizes "
                         f"would be {sizes}, and every part needs at least one row")
    return tuple(sizes)


def split_rows(n: int, seed: int, fractions=(0.6, 0.2, 0.2)):
    """Train, validation and test row indices: consecutive slices of the permutation
    ``np.random.default_rng(seed).permutation(n)``, of the sizes :func:`split_sizes`
    gives (not stratified). Returns three int64 arrays, disjoint and covering
    ``0..n-1``; ValueError for bad fractions or too few rows.
    """
    fractions = tuple(fractions)
    if len(fractions) != 3:
        raise ValueError(f"fractions must be three numbers (train, validation, test), "
                         f"got {fractions}")
    n_train, n_val, _ = split_sizes(n, fractions)
    order = np.random.default_rng(seed).permutation(int(n))
    return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]


def standardise(x, rows):
    """Standardise each column of ``x`` with the mean and standard deviation of
    ``rows`` only: ``(x - mean) / std``, population std (ddof 0), so on ``rows`` each
    column has mean 0 and std 1 while the other rows are scaled as new data would be.

    A column constant on ``rows`` (max == min; digits has pixels that are always 0)
    gets std 1 and, as its mean, that constant, so it becomes exactly 0 on ``rows``
    instead of dividing by zero. Returns ``(x_std, {"mean": [...], "std": [...]})``,
    the dict JSON-ready.
    """
    x = np.asarray(x, dtype=np.float64)
    rows = np.asarray(rows)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (rows x columns), got shape {x.shape}")
    if rows.ndim != 1 or len(rows) == 0:
        raise ValueError("rows must be a non-empty 1-D array of row indices")
    fit = x[rows]
    mean = fit.mean(axis=0)
    std = fit.std(axis=0)
    constant = fit.max(axis=0) == fit.min(axis=0)
    mean[constant] = fit[0, constant]
    std[constant] = 1.0
    return (x - mean) / std, {"mean": mean.tolist(), "std": std.tolist()}


def load_problem(name: str, *, split_seed: int = 0, data_seed: int = 0,
                 fractions=FRACTIONS, csv_problems: dict | None = None):
    """The suite's problem ``name`` as a :class:`~secondorder.problem.data.Problem`.

    Loads the data (``data_seed`` for generated ones), splits the rows
    (:func:`split_rows` with ``split_seed``), standardises the inputs from the
    training rows and, for regression, the targets too. Returns ``(problem, info)``:
    ``problem.inputs == "standardised"`` with train, validation and test rows;
    ``info`` a JSON-ready dict of what was done (name, family, task, source, n,
    n_inputs, n_outputs, seeds, fractions, split sizes, the three index lists, input
    mean/std, for regression target mean/std, for a CSV problem its classes and how its
    file was read: ``csv``, with the rows dropped). Unknown names: ValueError; ``csv_problems``: the config's CSV problems (:func:`get_dataset`).
    """
    dataset = get_dataset(name, csv_problems)
    x, y = dataset.load(data_seed)
    n = len(x)
    train, validation, test = split_rows(n, split_seed, fractions)
    x_std, input_scaler = standardise(x, train)
    info = {
        "name": dataset.name, "family": dataset.family, "task": dataset.task,
        "source": dataset.source, "n": int(n), "n_inputs": int(x.shape[1]),
        "n_outputs": int(y.shape[1]), "split_seed": int(split_seed),
        "data_seed": int(data_seed), "fractions": [float(f) for f in fractions],
        "sizes": {"train": len(train), "validation": len(validation), "test": len(test)},
        "rows": {"train": train.tolist(), "validation": validation.tolist(),
                 "test": test.tolist()},
        "input_mean": input_scaler["mean"], "input_std": input_scaler["std"],
        "scikit_learn": importlib.metadata.version("scikit-learn"),
    }
    if dataset.classes:
        info["classes"] = list(dataset.classes)
    if dataset.csv:
        info["csv"] = dataset.csv
    if dataset.task == "regression":
        y, target_scaler = standardise(y, train)
        info["target_mean"] = target_scaler["mean"]
        info["target_std"] = target_scaler["std"]
    problem = Problem(x_std, y, train, validation, "standardised", test=test)
    return problem, info

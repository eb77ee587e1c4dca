"""Residual functions shared by the test process and a scipy 1.15.3 subprocess (numpy
only), and the subprocess' entry point.

``tests/test_article_lm.py`` runs the article's one-line call,
``scipy.optimize.least_squares(fun, x0, method="lm", max_nfev=max_nfev)``, under scipy
1.15.3 in a throwaway virtual environment with this file as a script::

    python article_lm_residuals.py IN.npz OUT.npz

and compares it with :func:`secondorder.optim.article_lm.least_squares_lm_115` (and the
pipeline's ``scipy_lm_fd`` arm), run in the test's process or, for the article's
problem, in a fresh process of this project's python (``--pipeline IN.npz OUT.npz``). Both processes import the residual
functions below, so the code evaluated is the same; the article's ``mlp`` comes from
``article_reference.py`` (the article's code as published).
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import article_reference as ref  # noqa: E402


def rosenbrock(x):
    """Rosenbrock's function as two residuals (MINPACK test problem 4)."""
    return np.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


#: Osborne 1 data (Moré, Garbow, Hillstrom 1981, problem 17).
OSBORNE_Y = np.array([
    0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751, 0.718,
    0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490, 0.478, 0.467,
    0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406])


def osborne1(x):
    """Osborne 1: 33 residuals, 5 parameters, a non-zero minimum."""
    t = 10.0 * np.arange(33)
    return OSBORNE_Y - (x[0] + x[1] * np.exp(-t * x[3]) + x[2] * np.exp(-t * x[4]))


#: Small problems: name -> (residual function, starting point).
SMALL = {"rosenbrock": (rosenbrock, [-1.2, 1.0]),
         "osborne1": (osborne1, [0.5, 1.5, -1.0, 0.01, 0.02])}


def article_residuals(x_train, y_train, nhid=25, nout=2):
    """The article's ``opt_fun`` without its printing: ``mlp(x_train, ws) - y_train``,
    flattened row by row."""
    def opt_fun(ws):
        return (ref.mlp(x_train, ws, nhid, nout) - y_train).flatten()
    return opt_fun


def residuals(spec):
    """The residual function a spec (a dict of arrays, as saved in IN.npz) names."""
    name = str(spec["problem"])
    if name == "article":
        return article_residuals(spec["x_train"], spec["y_train"])
    return SMALL[name][0]


class Counted:
    """``fun`` with a count of its calls."""

    def __init__(self, fun):
        self.fun, self.calls = fun, 0

    def __call__(self, x):
        self.calls += 1
        return self.fun(x)


def main(path_in, path_out):
    import scipy
    import scipy.optimize

    spec = dict(np.load(path_in))
    fun = Counted(residuals(spec))
    max_nfev = int(spec["max_nfev"])
    sol = scipy.optimize.least_squares(fun, np.asarray(spec["x0"], dtype=float),
                                       method="lm", max_nfev=max_nfev if max_nfev > 0 else None)
    np.savez(path_out, x=sol.x, status=sol.status, nfev=sol.nfev,
             njev=-1 if sol.njev is None else sol.njev, cost=sol.cost,
             optimality=sol.optimality, message=sol.message, success=sol.success,
             calls=fun.calls, scipy=scipy.__version__, numpy=np.__version__)


def main_pipeline(path_in, path_out):
    """The same problem through the pipeline (run with this project's python):
    :func:`secondorder.optim.article_lm.least_squares_lm_115` on the shared residuals, and
    the ``scipy_lm_fd`` arm (:func:`~secondorder.optim.article_lm.fit_scipy_fd`) on the
    article's problem, each in this fresh process."""
    from secondorder.problem import data, model
    from secondorder.optim.article_lm import fit_scipy_fd, least_squares_lm_115

    spec = dict(np.load(path_in))
    fun = Counted(residuals(spec))
    max_nfev = int(spec["max_nfev"]) or None
    sol = least_squares_lm_115(fun, np.asarray(spec["x0"], dtype=float), max_nfev=max_nfev)
    problem = data.Problem(spec["x_all"], spec["y_all"], spec["train"], spec["validation"],
                           "raw")
    fit = fit_scipy_fd(problem, np.asarray(spec["x0"], dtype=float), arch=model.ARTICLE,
                       max_nfev=max_nfev)
    np.savez(path_out, x=sol.x, status=sol.status, nfev=sol.nfev,
             njev=-1 if sol.njev is None else sol.njev, cost=sol.cost,
             optimality=sol.optimality, message=sol.message, success=sol.success,
             calls=fun.calls, fit_weights=fit.weights, fit_status=fit.status,
             fit_status_code=fit.status_code, fit_message=fit.message,
             fit_success=fit.success, fit_evaluations=fit.evaluations,
             fit_scipy_nfev=fit.extra["scipy_nfev"], fit_cost=fit.extra["cost"])


if __name__ == "__main__":
    if sys.argv[1] == "--pipeline":
        main_pipeline(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1], sys.argv[2])

"""The multi-dataset suite: does the article's closing claim hold beyond two spirals?

The article ends by suggesting second-order methods as the default "with moderately
sized data and moderately sized models". The suite tests that on several problems
(:mod:`secondorder.problem.datasets`, your own CSV files included), model sizes (one
or two sigmoid hidden layers, ``~10^2`` to ``~10^4`` weights) and tuned first-order
rivals (``config/suite.yaml``, checked by the ``suite`` section of the config schema).

**The protocol**, per scope (:mod:`.scopes`), in jobs of the workflow
(``workflow/rules/suite.smk``):

1. *design* (:mod:`.design`): before any fit, the primary question's planned power and
   smallest detectable difference for the scope's design, under declared variance
   assumptions (``design.json``);
2. *tune* (:mod:`.runner`): every arm at every grid point from ``tune_inits`` initial
   weights on ``tune_splits`` splits of each problem, on the odd members of the seed
   chains (:func:`.scopes.seed_chain`);
3. *select* (:mod:`.selection`): from the tuning fits alone, each arm's grid point at
   each budget by median **validation** error, and the targets (the best arm's median
   **test** error of the tuning fits at the cap, plus a tolerance in rows or relative
   error): ``selected.csv``, ``targets.csv``;
4. *evaluate* (:mod:`.runner`): each arm at its selected grid points (the union over
   the budgets) from ``inits`` initial weights on ``splits`` splits, on the even
   members of the seed chains: other splits and other initial weights than the tuning's;
5. *summary*: the outcomes of what each stopped run returns (:mod:`.outcomes`), the
   verdict with its primary and exploratory families (:mod:`.verdicts`), the secondary
   views and the files (:mod:`.tables`, :mod:`.files`).

**Which numbers come from which fits.** Validation rows stop each fit (its trainer's
early stopping) and pick the weights it returns (best-by-validation so far); the tuning
fits' validation errors pick the grid points; the tuning fits' test errors set the
targets' levels; the evaluation fits' test errors score, once per returned model and
budget, and choose nothing. No test-row number picks a stop, a grid point or a
checkpoint.

Modules, imports one way (:mod:`.scopes` <- :mod:`.runner`, :mod:`.selection`,
:mod:`.outcomes` <- :mod:`.verdicts` <- :mod:`.design` <- :mod:`.tables` <- :mod:`.files`;
:mod:`.metrics` under all of them): the inference itself is
:mod:`secondorder.pipeline.inference`, :mod:`secondorder.pipeline.verdict` and
:mod:`secondorder.pipeline.power`, which know nothing of the suite.
"""

"""secondorder: a reproducible study of Levenberg-Marquardt versus Adam on two spirals.

All numerics of the pipeline live in this package; Snakemake rules, scripts and
notebooks call it.
"""

__version__ = "0.1.0"

"""The article: one home for its words.

The article (``results/article/article.html``) is ``notebooks/article.ipynb`` executed
by papermill: a cell of parameters (``artifacts``: the paths of what the run made,
:class:`~secondorder.article.facts.Artifacts`) and one cell per section that shows what
this package renders (:class:`~secondorder.article.page.Page`). Every word of the
article, headings included, is written here, one module per section
(:data:`SECTIONS`, in order); every fact it states is read from the run's config, the
optimizer registry or the artifacts (:mod:`.facts`), and a paragraph the run cannot
support says why in its place (:class:`~secondorder.article.facts.Unwritable`). The
analysis lives with the modules that own it (:mod:`secondorder.pipeline.study`,
:mod:`~secondorder.pipeline.cost_study`, :mod:`~secondorder.pipeline.suite`); the
sections only read and write.

Modules: :mod:`.facts` (reading the run), :mod:`.page` (blocks, showing them,
rendering the HTML), and the sections :mod:`.intro` (title and contents),
:mod:`.data`, :mod:`.results`, :mod:`.curves`, :mod:`.differences`, :mod:`.study`,
:mod:`.cost`, :mod:`.suite`, :mod:`.speed`, :mod:`.provenance`.
"""

from secondorder.article import (cost, curves, data, differences, intro, provenance,
                                 results, speed, study, suite)
from secondorder.article.facts import Artifacts, Facts, Unwritable, config_values
from secondorder.article.page import Page

#: The article's title: its first heading and the HTML's ``<title>``.
TITLE = intro.HEADING

#: The sections, in the order the article shows them.
SECTIONS = (intro, data, results, curves, differences, study, cost, suite, speed,
            provenance)


def render(notebook, out_ipynb, out_html, artifacts: dict) -> None:
    """Execute the article's notebook on ``artifacts`` and write it and its HTML,
    titled :data:`TITLE` (:func:`secondorder.article.page.render`)."""
    from secondorder.article.page import render as render_page

    render_page(notebook, out_ipynb, out_html, artifacts, TITLE)


__all__ = ["Artifacts", "Facts", "Page", "SECTIONS", "TITLE", "Unwritable",
           "config_values", "render"]

"""The article's page: what a section is made of, how the notebook shows it, and the
rendering of the executed notebook to HTML.

A section is a module of this package with a ``HEADING`` (its Markdown heading level
``LEVEL``, 2 unless it says otherwise) and ``render(facts)``, which yields its blocks
in order: Markdown text (a ``str``), a :class:`Table` or a :class:`Figure`.
:class:`Page` shows them in the executed notebook, numbering the figures; every table
is shown whole (no rows left out) with missing values as :data:`MISSING`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from secondorder import io

log = logging.getLogger(__name__)

#: How a table shows a missing value (the note below the table says why it is missing).
MISSING = "—"


@dataclass(frozen=True)
class Table:
    """A table shown whole; ``name`` becomes the HTML table's ``id``."""

    frame: pd.DataFrame
    name: str | None = None

    def html(self) -> str:
        """The table as HTML: every row and column, missing values as :data:`MISSING`
        (pandas' ``na_rep`` covers float columns; the others, such as a nullable
        integer column's ``<NA>``, are written as it here)."""
        frame = self.frame.copy()
        for column in frame.columns:
            if frame[column].dtype.kind != "f" and frame[column].isna().any():
                frame[column] = frame[column].astype(object).where(frame[column].notna(),
                                                                   MISSING)
        return frame.to_html(na_rep=MISSING, table_id=self.name, border=0,
                             max_rows=None, max_cols=None)


@dataclass(frozen=True)
class Figure:
    """A figure: ``draw()`` makes it (matplotlib), saved as ``<name>.png`` and ``.svg``
    in the article's figures folder and shown with its numbered ``caption``."""

    name: str
    draw: Callable
    caption: str


def pct(value) -> str:
    """``0.9871`` as ``98.7%``; ``n/a`` for a missing value."""
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def bullets(lines) -> str:
    """A Markdown list, one item per line."""
    return "\n".join(f"- {line}" for line in lines)


def names(items, code: bool = True) -> str:
    """``a``, ``a and b``, ``a, b and c`` (each in backticks when ``code``)."""
    items = [f"`{i}`" if code else str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def anchor(heading: str) -> str:
    """The ``id`` nbconvert gives a Markdown heading: its text with spaces as hyphens."""
    return heading.replace(" ", "-")


def heading(section) -> str:
    """The Markdown heading of a section module."""
    return "#" * getattr(section, "LEVEL", 2) + " " + section.HEADING


def image_html(png: Path, caption: str) -> str:
    """The PNG embedded in an ``<img>`` whose alternative text is the caption (its
    Markdown marks removed)."""
    import base64
    import html

    alt = html.escape(caption.replace("`", "").replace("*", ""), quote=True)
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{alt}">'


class Page:
    """Shows the sections of the article in the executed notebook (``show``), one
    cell per section, from the run's :class:`~secondorder.article.facts.Facts`."""

    def __init__(self, facts):
        self.facts = facts
        self.figures = 0

    def show(self, section) -> None:
        from IPython.display import HTML, Markdown, display

        display(Markdown(heading(section)))
        for block in section.render(self.facts):
            if isinstance(block, str):
                display(Markdown(block))
            elif isinstance(block, Table):
                display(HTML(block.html()))
            elif isinstance(block, Figure):
                self.figures += 1
                display(HTML(image_html(self.save(block), block.caption)))
                display(Markdown(f"**Figure {self.figures}.** {block.caption}"))
            else:
                raise TypeError(f"a section yields text, a Table or a Figure, not "
                                f"{type(block).__name__}")

    def save(self, figure: Figure) -> Path:
        """Draw ``figure``, save it as PNG and SVG; the PNG's path."""
        from secondorder.pipeline import plots

        fig = figure.draw()
        png, _ = plots.save(fig, self.facts.artifacts.figures_dir, figure.name)
        plots.plt.close(fig)
        return png


def render(notebook, out_ipynb, out_html, artifacts: dict, title: str,
           kernel_name: str = "python3") -> None:
    """Execute ``notebook`` with papermill (``artifacts``, the paths of
    :class:`~secondorder.article.facts.Artifacts`, injected as the parameter of that
    name after the cell tagged ``parameters``), give it ``title`` (the notebook's
    metadata ``title``: the HTML's ``<title>``), then render it to HTML without code.
    Both files are written atomically."""
    import nbconvert
    import nbformat
    import papermill

    with io.atomic_path(out_ipynb) as tmp_nb:
        papermill.execute_notebook(str(notebook), str(tmp_nb), kernel_name=kernel_name,
                                   progress_bar=False, parameters={"artifacts": artifacts},
                                   cwd=str(Path.cwd()))
        executed = nbformat.read(tmp_nb, as_version=4)
        executed.metadata["title"] = title
        nbformat.write(executed, tmp_nb)
    exporter = nbconvert.HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                                      exclude_output_prompt=True)
    html, _ = exporter.from_notebook_node(executed)
    io.write_text(out_html, html)
    log.info("article: %s and %s", out_ipynb, out_html)

"""``write_report``: the report of a check, as ``report.md`` (+ PNGs) or ``report.html``.

Example::

    from conveyor.evaluation.results import CheckResult
    from conveyor.reports.render import write_report

    check = CheckResult.from_dict(json.loads(Path("check.json").read_text()))
    predictions = pandas.read_parquet("predictions.parquet")
    path = write_report(check, predictions, Path("report"))  # report/report.md, report/roc.png…

Nothing is uploaded anywhere: the Markdown links its plots by file name, or under
``image_base`` for teams who host the PNGs themselves; the HTML page carries them inside.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from conveyor.errors import InvalidValue
from conveyor.evaluation.results import CheckResult
from conveyor.reports.content import PlotRef, build_view
from conveyor.reports.html import render_html
from conveyor.reports.markdown import render_markdown

if TYPE_CHECKING:
    import pandas as pd

MARKDOWN_FILE = "report.md"
HTML_FILE = "report.html"


def write_report(
    check: CheckResult,
    predictions: pd.DataFrame | None,
    out_dir: Path,
    *,
    fmt: Literal["md", "html"] = "md",
    image_base: str | None = None,
) -> Path:
    """Write the report of ``check`` into ``out_dir`` (created if needed); return its path.

    ``fmt="md"``: ``report.md`` for a pull-request comment, with each plot beside it as a
    PNG, linked as ``image_base/NAME.png`` (``NAME.png`` when ``image_base`` is None).
    ``fmt="html"``: ``report.html``, one self-contained page with the plots inside.
    ``predictions`` (``predictions.parquet``) feeds the curves; without it those plots are
    left out. Every file is written to a temporary name first, then renamed.
    """
    if fmt not in ("md", "html"):
        raise InvalidValue(f"unknown report format {fmt!r}: expected 'md' or 'html'")
    from conveyor.reports.plots import draw_plots  # numpy; matplotlib once a plot is drawn

    plots = draw_plots(check, predictions)
    view = build_view(check, [PlotRef(p.file, p.title) for p in plots])
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        text = render_html(view, {p.file: p.png for p in plots})
        return write_atomic(out_dir / HTML_FILE, text.encode("utf-8"))
    for plot in plots:
        write_atomic(out_dir / plot.file, plot.png)
    text = render_markdown(view, image_base=image_base)
    return write_atomic(out_dir / MARKDOWN_FILE, text.encode("utf-8"))


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new file beside ``path``, then rename it into place.

    The file is created like any other (its mode follows the umask), not private like a
    ``mkstemp`` file, so a web server can serve the PNGs of a team that hosts them.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("xb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

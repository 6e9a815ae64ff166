"""``report.html``: the same report as one self-contained page.

Every plot is inlined as a ``data:`` URI, the style sheet is inline, and nothing is fetched
from the network: the page carries a Content-Security-Policy that forbids it, so even a
link that slipped into a value could not load. Autoescaping is on: a model name or slice
value holding ``<script>`` is shown as text. Nothing is shortened (there is no size limit).
"""

from __future__ import annotations

from base64 import b64encode
from functools import cache

import jinja2

from conveyor.reports.content import ReportView


def render_html(view: ReportView, images: dict[str, bytes]) -> str:
    """The HTML page; ``images`` maps each plot's file name to its PNG bytes."""
    sources = {name: data_uri(png) for name, png in images.items()}
    return _environment().get_template("report.html.j2").render(view=view, sources=sources)


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,…``: the image inside the page."""
    return "data:image/png;base64," + b64encode(png).decode("ascii")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("conveyor.reports", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )

"""``report.md``: the report as a pull-request comment (GitHub-flavoured Markdown).

The first line is the hidden marker :data:`MARKER`, so CI can find the comment it wrote on
an earlier push and edit it instead of adding another. Long parts (evidence, slices,
lineage) are folded in ``<details>``; when the text would pass :data:`MAX_CHARS` they are
shortened step by step, and as a last resort the text is cut with a note saying so.

Text from outside (model names, slice values, gate details) is escaped: identifiers go in
code spans, sentences have Markdown's special characters escaped and ``@`` defused so a
name cannot mention anyone, and text inside HTML tags is HTML-escaped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, partial

import jinja2
from markupsafe import escape

from conveyor.reports.content import ReportView

MARKER = "<!-- conveyor-report -->"
MAX_CHARS = 60_000  # GitHub refuses comments over 65,536 characters; CI may add its own lines


@dataclass(frozen=True)
class Limits:
    """How much of the long parts to show."""

    slice_columns: int
    slice_rows: int
    lineage_lines: int
    failures: int
    evidence: bool


LEVELS = (
    Limits(slice_columns=20, slice_rows=50, lineage_lines=200, failures=20, evidence=True),
    Limits(slice_columns=5, slice_rows=10, lineage_lines=40, failures=5, evidence=True),
    Limits(slice_columns=0, slice_rows=0, lineage_lines=0, failures=3, evidence=False),
)
CUT_NOTE = (
    "\n\n> ✂️ This report was cut here to stay under GitHub's comment size limit; "
    "`conveyor report --format html` writes all of it.\n"
)


def render_markdown(
    view: ReportView, *, image_base: str | None = None, max_chars: int = MAX_CHARS
) -> str:
    """The Markdown report, at most ``max_chars`` characters long.

    Plots are linked as ``image_base/FILE`` (``FILE`` alone when ``image_base`` is None).
    """
    template = _environment().get_template("report.md.j2")
    text = ""
    for limits in LEVELS:
        text = template.render(
            view=view, limits=limits, marker=MARKER, image_base=_base(image_base)
        )
        if len(text) <= max_chars:
            return text
    return cut(text, max_chars)


def cut(text: str, max_chars: int) -> str:
    """``text`` cut at a line break so that, with the note, it fits ``max_chars``."""
    room = max(max_chars - len(CUT_NOTE), 0)
    head = text[:room]
    if "\n" in head:
        head = head[: head.rindex("\n")]
    return head + CUT_NOTE


def _base(image_base: str | None) -> str:
    return "" if not image_base else image_base.rstrip("/") + "/"


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("conveyor.reports", "templates"),
        autoescape=False,  # Markdown, escaped by the filters below
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(md=md_text, code=md_code, url=md_url, fence=md_fence, html=escape)
    environment.filters["cell"] = partial(md_code, cell=True)
    return environment


# What could make text into markup: emphasis, code, links and images, table cells, and
# "<" where it could open a tag or an autolink ("<0.001" and "<= 10" stay as they are).
_SPECIAL = re.compile(r"([\\`*\[\]|]|<(?=[A-Za-z/!?]))")


def md_text(text: object) -> str:
    """Plain text in Markdown: markup characters escaped, ``@`` unable to mention anyone."""
    return _SPECIAL.sub(r"\\\1", str(text)).replace("@", "@\u2060")


def md_code(text: object, *, cell: bool = False) -> str:
    """An inline code span holding ``text`` literally; ``cell``: inside a table row."""
    value = str(text).replace("\n", " ")
    if cell:
        value = value.replace("|", "\\|")  # GFM splits cells before it reads code spans
    if not value:
        return "—"
    ticks = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (ticks + 1)
    pad = " " if ticks or value.startswith(" ") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def md_url(url: str) -> str:
    """A link target that Markdown will not end early (spaces and brackets encoded)."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C")


def md_fence(lines: list[str]) -> str:
    """A fence longer than any run of backticks in ``lines``, so none can close it."""
    ticks = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    return "`" * max(3, ticks + 1)

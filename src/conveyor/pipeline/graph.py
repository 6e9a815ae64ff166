"""The pipeline drawn as text, for ``conveyor dag``."""

from __future__ import annotations

from conveyor.pipeline.spec import Pipeline


def render_tree(pipeline: Pipeline) -> str:
    """Each root stage with the stages downstream of it; a stage reached twice is drawn once.

    Example::

        prepare
        └── train
            └── evaluate  (also after: prepare)
    """
    lines: list[str] = []
    drawn: set[str] = set()

    def draw(name: str, prefix: str, connector: str, parent: str | None) -> None:
        others = [u for u in pipeline.upstream[name] if u != parent]
        note = f"  (also after: {', '.join(others)})" if parent and others else ""
        if name in drawn:
            lines.append(f"{prefix}{connector}{name}  (see above)")
            return
        drawn.add(name)
        lines.append(f"{prefix}{connector}{name}{note}")
        children = pipeline.downstream(name)
        if connector == "":
            child_prefix = ""
        else:
            child_prefix = prefix + ("    " if connector == "└── " else "│   ")
        for index, child in enumerate(children):
            last = index == len(children) - 1
            draw(child, child_prefix, "└── " if last else "├── ", name)

    for root in (n for n in pipeline.order if not pipeline.upstream[n]):
        draw(root, "", "", None)
    return "\n".join(lines)

"""``python -m conveyor``: the same as the ``conveyor`` command."""

from conveyor.cli.entry import entrypoint

entrypoint()

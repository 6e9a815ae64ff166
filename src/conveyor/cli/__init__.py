"""The ``conveyor`` command line. Each command parses, calls one service, and prints."""

from conveyor.cli.main import app, main

__all__ = ["app", "main"]

"""The ``conveyor`` command line. Each command parses, calls one service, and prints.

``entry.py`` is the executable's entry point; ``main.py`` holds the typer application.
"""

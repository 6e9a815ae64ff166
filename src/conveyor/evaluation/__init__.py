"""Evaluation: metrics, the statistics that compare two models, fairness, robustness, gates.

Modules are imported by name (``conveyor.evaluation.metrics``); nothing heavy is imported here.
"""

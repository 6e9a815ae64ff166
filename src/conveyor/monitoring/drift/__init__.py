"""Drift of current data against a reference, with honest statistics.

Per feature: a test chosen by kind and size (``rules.RULES``), its effect size and
p-value, missing / non-finite / new-category shares as signals of their own, a
multiple-testing correction across the whole report, a minimum detectable effect, and
thresholds calibrated on the reference leaving each chunk out. See docs/monitoring.md,
"How drift is decided".

Example::

    report = detect_drift(reference_df, current_df)
    report.drifted, report.statement, report.as_dict()
"""

from conveyor.monitoring.drift.detect import DriftDetector, detect_drift
from conveyor.monitoring.drift.report import DriftReport, FeatureDrift, Signal
from conveyor.monitoring.drift.rules import RULES, table

__all__ = [
    "RULES",
    "DriftDetector",
    "DriftReport",
    "FeatureDrift",
    "Signal",
    "detect_drift",
    "table",
]

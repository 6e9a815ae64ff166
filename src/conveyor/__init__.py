"""Conveyor: continuous integration, training and delivery for machine-learning models.

The command line (``conveyor --help``) is the main interface today; the Python SDK
(``log_params``, ``log_metrics``, ``log_model``, ...) is exported from here as it lands.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]

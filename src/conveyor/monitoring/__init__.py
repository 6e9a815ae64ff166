"""Monitoring: what a gateway observed, read back without the gateway.

- :mod:`~conveyor.monitoring.observation`: the observer contract, one answered
  :class:`~conveyor.monitoring.observation.Prediction` and the
  :class:`~conveyor.monitoring.observation.PredictionObserver` the gateway tells of it;
- :mod:`~conveyor.monitoring.predlog_schema`: the prediction log's columns and file layout;
- :mod:`~conveyor.monitoring.predictions`: reading the log for a model, a time range and a
  version, opening only the files whose window overlaps the range;
- :mod:`~conveyor.monitoring.outcomes`: per-version outcome windows (counts, error classes, a
  fixed latency histogram, prediction counts), mergeable across workers and replicas;
- :mod:`~conveyor.monitoring.recorder`: counting them in a gateway and flushing them to the store;
- :mod:`~conveyor.monitoring.drift`: drift statistics, per feature and for a dataset.

``monitoring`` never imports :mod:`conveyor.serving`; the gateway imports it (its prediction
log writer follows the schema here, its observers implement the contract here).
"""

"""Alerts: rules in ``conveyor.yaml`` checked against live data, one leader at a time.

- :mod:`.config`: the ``monitor:`` block (:class:`~.config.MonitorConfig`, the rules);
- :mod:`.evaluate`: one rule on one model version, from the prediction log, the labels and
  the outcome windows (an :class:`~.evaluate.Observation`: holds or not, value, evidence);
- :mod:`.lifecycle`: pending → firing → resolved, ``for:``, repeats and the rate cap, as a
  pure function of the stored alert, the observation and the time;
- :mod:`.loop`: the monitor loop (one leader across processes), writing alerts and the
  latest drift and performance per version to the store and notifying;
- :mod:`.gauges`: those stored values as Prometheus gauges for the gateway's ``/metrics``;
- :mod:`.service`: what ``conveyor monitor run`` and ``conveyor monitor alerts`` call.

Nothing here imports the gateway: the loop runs inside ``conveyor serve`` or alone.
"""

"""Delivery: routing tables, traffic changes, deployment records, and (soon) rollouts and
their analysis.

Which versions of a model should answer its requests, in what shares, with which shadows
and sticky key, is decided here; the gateway (:mod:`conveyor.serving`) only applies the
tables it reads. ``delivery`` never imports ``serving``:

- :mod:`~conveyor.delivery.tables`: the :class:`RoutingTable` data type and its rules;
- :mod:`~conveyor.delivery.traffic`: changing a table (``set_traffic``, ``set_shadow``,
  ``clear_shadow``) and reading tables and their history, for a :class:`~conveyor.context.Context`;
- :mod:`~conveyor.delivery.deployments`: the stored tables as routing tables, and which of
  them changed since the revisions a reader knows (what a gateway polls).
"""

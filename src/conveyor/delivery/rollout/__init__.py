"""Progressive delivery: a rollout moves a model's traffic to a candidate step by step.

- :mod:`.service`: what a user asks (deploy, pause, resume, promote, abort, rollback,
  status, history), each a function taking a :class:`~conveyor.context.Context`;
- :mod:`.evidence`: outcome windows read as the judge's windows, the judge ``deploy.judge``
  names, and a step's verdict with its evidence as stored; the seam replay calls too;
- :mod:`.quality`: accuracy from delayed labels and agreement in shadow, from the logs;
- :mod:`.stepping`: when a step's analysis begins (waiting for traffic, the warm-up
  window) and what follows a verdict; the rules replay applies too;
- :mod:`.controller`: the step machine that applies weights, judges and decides;
- :mod:`.outage`: a failing store said once, once a minute and once when back;
- :mod:`.replay`: what the controller would have decided on logged traffic, and when;
- :mod:`conveyor.store.leader`: one active controller per model (an advisory lock on
  PostgreSQL, a file lock on SQLite).

State lives in the store (``store.rollouts``), so a controller killed mid-rollout resumes
where it was.
"""

"""Progressive delivery: a rollout moves a model's traffic to a candidate step by step.

- :mod:`.service`: what a user asks (deploy, pause, resume, promote, abort, rollback,
  status, history), each a function taking a :class:`~conveyor.context.Context`;
- :mod:`.evidence`: outcome windows read as the judge's windows, and a verdict as stored
  evidence; the one seam a replay of logged traffic calls too;
- :mod:`.controller`: the step machine that applies weights, judges and decides;
- :mod:`conveyor.store.leader`: one active controller per model (an advisory lock on
  PostgreSQL, a file lock on SQLite).

State lives in the store (``store.rollouts``), so a controller killed mid-rollout resumes
where it was.
"""

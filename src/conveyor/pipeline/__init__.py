"""Pipelines: the DAG from conveyor.yaml, its cache keys, the lock file, and the runner."""

"""Monitoring: the prediction log's schema and reader, outcome windows, and (soon) profiles, drift, labels and alerts."""

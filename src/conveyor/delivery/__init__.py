"""Delivery: routing tables, rollouts and their analysis."""

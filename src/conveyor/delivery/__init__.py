"""Delivery: routing tables, traffic changes, deployment records, and (soon) rollouts and their analysis."""  # noqa: E501

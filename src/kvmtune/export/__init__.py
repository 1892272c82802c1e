"""Frames rendered for other tools: CSV rows (table.py) and OpenMetrics text (openmetrics.py)."""

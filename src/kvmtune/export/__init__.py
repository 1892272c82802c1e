"""Frames rendered for other tools: CSV rows (table.py), the metric families (families.py)
as OpenMetrics text for dumps (openmetrics.py) and as the live exporter's pages
(promclient.py, served by server.py from the collection thread in loop.py)."""

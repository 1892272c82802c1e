"""The metric names a PromQL expression reads (enough of PromQL for our rules and dashboard:
strings, label matchers, ranges, label lists, Grafana's $variables and numbers are not names;
an identifier before "(" is a function or an aggregation)."""

from __future__ import annotations

import re

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "inf", "nan"}


def metric_names(expr: str) -> list[str]:
    m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", expr, re.S)   # a Grafana variable's query
    if m:
        expr = m.group(1)
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\$\{?\w+\}?", " ", s)
    out = []
    for t in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", s):
        if s[t.end():].lstrip().startswith("(") or t.group(0).lower() in KEYWORDS:
            continue
        out.append(t.group(0))
    return out

"""Figures the scale and chaos tests measure: printed at once and again in pytest's terminal summary."""

from __future__ import annotations

FIGURES: list[str] = []


def record(test: str, **values: object) -> str:
    """Remember one figure line, print it, and return it."""
    line = f"{test}: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    FIGURES.append(line)
    print(line)
    return line

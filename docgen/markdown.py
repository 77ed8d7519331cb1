"""How the generated blocks write tables, numbers and names."""

from __future__ import annotations

import json

# how tables name the datasets; others: their key
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def percent(value: float) -> str:
    return f"{value:.2%}"


def megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def title(ds: str) -> str:
    return TITLES.get(ds, ds)


def change_text(overrides: dict[str, object]) -> str:
    """A seeds run's --set values: `key: value`, comma-separated."""
    return ", ".join(f"`{key}: {json.dumps(value)}`" for key, value in overrides.items())

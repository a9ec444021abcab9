"""Writing the markdown tables of the ``eval`` experiment scripts into ``results/``."""

from __future__ import annotations

import os
from collections.abc import Sequence


def write_table(path: str, title: str, command: str, description: str, header: Sequence[str],
                rows: Sequence[Sequence[str]]) -> str:
    """Write a markdown page (title, the command that made it, a description, one table) and return it."""
    lines = [f"# {title}\n", f"Command: `{command}`\n", f"{description}\n",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return text


def read_table(path: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the first markdown table in ``path`` (as :func:`write_table` writes it)."""
    header: list[str] = []
    rows: list[list[str]] = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("|"):
                if header:
                    break
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not header:
                header = cells
            elif not set(line) <= set("|-: "):
                rows.append(cells)
    if not header:
        raise ValueError(f"{path} holds no markdown table")
    return header, rows

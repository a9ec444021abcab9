"""The markdown tables the ``eval`` experiment scripts write into ``results/``, and the summary
figures in them (their runs are in :mod:`eval.experiment`)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gridworld_env.atomic import atomic_path


def mean_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    return mean, (math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0)


def table_lines(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A markdown table: the header, the rule, then a line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def pm(figures: tuple[float, float], digits: int = 1) -> str:
    """``mean ± spread`` (as :func:`mean_spread` gives them) to ``digits`` decimals."""
    return f"{figures[0]:.{digits}f} ± {figures[1]:.{digits}f}"


def bracketed(value: float | None, digits: int = 1) -> str:
    """`` (value)`` (a reference figure beside ours), or nothing."""
    return "" if value is None else f" ({value:.{digits}f})"


def grid_rows(
    summary: dict[tuple[int, str], Any], sizes: Iterable[int], names: Iterable[str], row: Callable[..., list[str]]
) -> list[list[str]]:
    """``row(size, name, summary[size, name])`` for every (size, name) in ``summary``, sizes first."""
    names = list(names)
    return [row(size, name, summary[(size, name)]) for size in sizes for name in names if (size, name) in summary]


def write_table(
    path: str,
    title: str,
    command: str,
    description: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    extra: str = "",
) -> str:
    """Write a markdown page (title, the command that made it, a description, one table, then
    ``extra`` markdown) and return it."""
    lines = [f"# {title}\n", f"Command: `{command}`\n", f"{description}\n", *table_lines(header, rows)]
    text = "\n".join(lines) + "\n" + (f"\n{extra}" if extra else "")
    with atomic_path(path) as tmp, open(tmp, "w") as f:
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


def dropped_rows(path: str, keys: Iterable[tuple[str, str]]) -> list[str]:
    """The (size, model) rows of the table already at ``path`` that a new table with ``keys``
    would lose (none when there is no table there): a narrower command must not silently
    replace a fuller table."""
    if not os.path.exists(path):
        return []
    try:
        _, rows = read_table(path)
    except ValueError:
        return []
    wanted = set(keys)
    return [f"{r[0]} {r[1]}" for r in rows if len(r) > 1 and (r[0], r[1]) not in wanted]


def check_not_dropping(path: str, keys: Iterable[tuple[str, str]], overwrite: bool, fuller: str) -> None:
    """``ValueError`` naming the rows of ``path`` a new table with ``keys`` would drop, unless ``overwrite``.

    :param fuller: the command that tabulates every finished run, named in the message.
    """
    lost = [] if overwrite else dropped_rows(path, keys)
    if lost:
        raise ValueError(
            f"{path} holds rows this command would drop ({', '.join(lost)}): tabulate every finished run "
            f"with `{fuller}`, write elsewhere with --out, or pass --overwrite"
        )


def table_main(
    parser: Any,
    rows_of: Callable[[], Sequence[Sequence[str]]],
    out: str,
    title: str,
    command: str,
    description: str,
    header: Sequence[str],
) -> int:
    """The end of a one-table script's ``main``: compute the rows (a ``ValueError`` becomes the
    parser's error), write the page with :func:`write_table`, print it, return 0."""
    try:
        rows = rows_of()
    except ValueError as exc:
        parser.error(str(exc))
    print(write_table(out, title, command, description, header, rows))
    return 0

"""Tabular command output that works on a terminal and in a pipe.

On a terminal a listing is a rich table; anywhere else (a pipe, a file, a narrow terminal's redirect) it is
complete, unwrapped, machine-readable text: tab-separated values with a header line, or JSON. Titles and hints
go to stderr in the machine formats, so stdout carries only data (``feedvault ls | cut -f1`` works).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

FORMATS = ("table", "tsv", "json")


def add_format_options(parser: argparse.ArgumentParser) -> None:
    """``--format table|tsv|json`` (default: table on a terminal, tsv otherwise) and ``--json``."""
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=FORMATS,
        help="output format (default: table on a terminal, tsv when piped)",
    )
    parser.add_argument(
        "--json", dest="output_format", action="store_const", const="json", help="same as --format json"
    )


@dataclass
class Listing:
    """Rows of plain values (never markup) under named columns; ``title`` and ``notes`` are for people."""

    title: str
    columns: Sequence[str]
    rows: list[Sequence[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *values: Any) -> None:
        self.rows.append(values)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def resolve_format(requested: str | None, out: Console) -> str:
    return requested or ("table" if out.is_terminal else "tsv")


def tsv_cell(value: Any) -> str:
    """One TSV field: tabs and line breaks become visible escapes so every row stays one line."""
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r").replace("\n", "\\n")


def emit(listing: Listing, requested: str | None, out: Console, err: Console) -> None:
    """Print ``listing`` to ``out`` in the requested (or default) format; titles and notes to ``err`` when piped."""
    fmt = resolve_format(requested, out)
    if fmt == "json":
        sys.stdout.write(json.dumps(listing.records(), ensure_ascii=False, indent=1) + "\n")
    elif fmt == "tsv":
        lines = ["\t".join(listing.columns), *("\t".join(tsv_cell(v) for v in row) for row in listing.rows)]
        sys.stdout.write("\n".join(lines) + "\n")
    else:
        table = Table(title=escape(listing.title))
        for column in listing.columns:
            table.add_column(column, overflow="fold")
        for row in listing.rows:
            table.add_row(*(escape("-" if v is None or v == "" else str(v)) for v in row))
        out.print(table)
        for note in listing.notes:
            out.print(escape(note), highlight=False)
        return
    sys.stdout.flush()
    if listing.title:
        err.print(escape(listing.title), highlight=False)
    for note in listing.notes:
        err.print(escape(note), highlight=False)

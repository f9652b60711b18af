"""A run's summary as a plain-text table for the task log (Airflow's log view has no colours or live redraw)."""

from __future__ import annotations

import re
from typing import Any

from feedvault.archive.manifest import DISPLAY_COLUMNS, display_counts

COLUMNS = DISPLAY_COLUMNS


def summary_table(manifest: dict[str, Any], *, dry_run: bool = False) -> str:
    header = ("feed", "status", *COLUMNS, "bytes")
    rows = [
        (
            feed["feed"],
            feed["status"],
            *(str(n) for n in display_counts(feed["counts"], feed.get("not_due", 0)).values()),
            f"{feed['bytes_written']:,}",
        )
        for feed in manifest["feeds"]
    ]
    totals = manifest["totals"]
    rows.append(
        (
            "total",
            manifest["status"],
            *(str(n) for n in display_counts(totals, manifest.get("not_due", 0)).values()),
            f"{manifest['bytes_written']:,}",
        )
    )
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )

    title = f"run {manifest['run_id']}" + (" (dry run: nothing written)" if dry_run else "")
    rule = "-" * len(line(header))
    out = [title, line(header), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1])]
    for feed in manifest["feeds"]:
        if feed.get("error"):
            out.append(f"{feed['feed']} failed: {feed['error']}")
        out.extend(f"{feed['feed']}: {warning}" for warning in feed.get("warnings", [])[:5])
    return "\n".join(out)


_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z? \[\w+\s*\] ")
_SUFFIX = re.compile(r" \[[\w.]+\] loc=\S+$")
_NOTABLE = ("run manifest:", "look at it:", "feed(s) failed")


def extract_from_log(text: str) -> list[str]:
    """The run's table and outcome lines from an ``airflow dags test`` log (for ``make run``)."""
    out: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^run \d{8}T\d{6}Z\S*( \(dry run.*\))?$", line):
            for row in lines[i:]:
                if _STAMP.match(row):
                    break
                out.append(_SUFFIX.sub("", row))
        elif _STAMP.match(line) and any(key in line for key in _NOTABLE):
            out.append(_SUFFIX.sub("", _STAMP.sub("", line)))
    return out


if __name__ == "__main__":
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m feedvault.airflow.report")
    parser.add_argument("--from-log", type=Path, required=True, help="an `airflow dags test` log")
    args = parser.parse_args()
    print(
        "\n".join(extract_from_log(args.from_log.read_text(errors="replace"))) or f"(no summary: see {args.from_log})"
    )

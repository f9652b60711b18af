"""Wall time of browsing commands on the embedded store: with it kept running (`feedvault store start`) vs not.

Archives the bundled demo publisher once into a temporary embedded store, then times `feedvault ls`,
`ls --feed demo-id` and `show <id>` as whole processes, each ``--repeat`` times: first with no store running (every
command starts SeaweedFS and stops it again), then with the store started once beforehand. Prints the median
and max per command and the ratio; the target is a median under 1 s with the store running. Exits 1 if missed.
Usage: ``python bench/cli_latency.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 1.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fv-cli-latency-") as tmp:
        root = Path(tmp)
        registry = yaml.safe_load((REPO / "feedvault/demo/feeds.yaml").read_text())
        registry["settings"]["storage"]["data_dir"] = str(root / "data")
        (root / "feeds.yaml").write_text(yaml.safe_dump(registry))
        env = {**os.environ, "FEEDVAULT_DEMO_URL": f"http://127.0.0.1:{free_port()}", "COLUMNS": "200"}
        cli = [sys.executable, "-m", "feedvault.cli", "--registry", str(root / "feeds.yaml")]

        def run(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*cli, *argv], env=env, cwd=REPO, capture_output=True, text=True, check=True)

        run("run", "--demo")
        snapshot = json.loads(run("ls", "--feed", "demo-id", "--day", _first_day(run), "--json").stdout)[0]["id"]
        commands = {"ls": ["ls"], "ls --feed": ["ls", "--feed", "demo-id"], "show": ["show", snapshot]}

        def timed(argv: list[str]) -> list[float]:
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                run(*argv)
                times.append(time.perf_counter() - start)
            return times

        cold = {name: timed(argv) for name, argv in commands.items()}
        run("store", "start")
        try:
            warm = {name: timed(argv) for name, argv in commands.items()}
        finally:
            run("store", "stop")
    missed = False
    print(f"{'command':<12} {'no store: median':>17} {'store running: median':>22} {'max':>6} {'ratio':>6}  target")
    for name in commands:
        c, w = statistics.median(cold[name]), statistics.median(warm[name])
        ok = w < TARGET_SECONDS
        missed |= not ok
        print(
            f"{name:<12} {c:>16.2f}s {w:>21.2f}s {max(warm[name]):>5.2f}s {w / c:>6.2f}  "
            f"< {TARGET_SECONDS:.0f} s: {'met' if ok else 'MISSED'}"
        )
    return 1 if missed else 0


def _first_day(run) -> str:  # type: ignore[no-untyped-def]
    days = json.loads(run("ls", "--feed", "demo-id", "--json").stdout)
    return days[0]["day"]


if __name__ == "__main__":
    raise SystemExit(main())

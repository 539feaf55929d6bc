"""Wall time of `saescope --help` and `saescope version` (issue 28: 7.8 s and 22.9 s when the
CLI imported torch, transformers and streamlit at start-up).

Each command runs in a fresh interpreter (`python -m saescope.cli.main ...`), `--runs` times;
the median is printed beside the bare interpreter's start-up (`python -c pass`) and `import
torch` measured the same way in the same run, with the machine's load average, since on a shared
machine every figure moves with the load.

    python benchmarks/cli_startup.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def wall(argv: list[str], runs: int) -> float:
    """Median seconds of `argv` over `runs` fresh processes (output discarded)."""
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per command (the median is printed)")
    ap.add_argument("--no-torch", action="store_true", help="skip the `import torch` reference")
    args = ap.parse_args()
    py = sys.executable
    rows = [("python -c pass (interpreter start)", [py, "-c", "pass"]),
            ("saescope --help", [py, "-m", "saescope.cli.main", "--help"]),
            ("saescope version", [py, "-m", "saescope.cli.main", "version"]),
            ("saescope curate --help", [py, "-m", "saescope.cli.main", "curate", "--help"])]
    if not args.no_torch:
        rows.append(("python -c 'import torch' (reference)", [py, "-c", "import torch"]))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"median of {args.runs} runs each; load average (1 min) {load:.2f} on {os.cpu_count()} CPUs")
    base = None
    for name, argv in rows:
        t = wall(argv, args.runs)
        base = base or t
        print(f"{name:40s} {t:6.3f} s  ({t / base:5.1f} x interpreter start)")


if __name__ == "__main__":
    main()

"""Wall time of `saescope --help` and `saescope version` (issue 28: 7.8 s and 22.9 s when the
CLI imported torch, transformers and streamlit at start-up).

Each command runs in a fresh interpreter (`python -m saescope.cli.main ...`), `--runs` times;
the median wall time and the median CPU time of the process (user + sys, which moves less with
the load of a shared machine) are printed beside the bare interpreter's start-up (`python -c
pass`) and `import torch` measured the same way in the same run, with the load average.

    python benchmarks/cli_startup.py --runs 5
    python benchmarks/cli_startup.py --runs 5 --src OLD_CHECKOUT/src   # another tree, same machine
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def timed(argv: list[str], runs: int, src: Path = SRC) -> tuple[float, float]:
    """Median (wall, CPU) seconds of `argv` over `runs` fresh processes (output discarded)."""
    env = dict(os.environ, PYTHONPATH=f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per command (the median is printed)")
    ap.add_argument("--no-torch", action="store_true", help="skip the `import torch` reference")
    ap.add_argument("--src", type=Path, default=SRC, help="saescope source tree to time (default: this one)")
    args = ap.parse_args()
    py = sys.executable
    rows = [("python -c pass (interpreter start)", [py, "-c", "pass"]),
            ("saescope --help", [py, "-m", "saescope.cli.main", "--help"]),
            ("saescope version", [py, "-m", "saescope.cli.main", "version"]),
            ("saescope curate --help", [py, "-m", "saescope.cli.main", "curate", "--help"])]
    if not args.no_torch:
        rows.append(("python -c 'import torch' (reference)", [py, "-c", "import torch"]))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.src}: median of {args.runs} runs each; load average (1 min) {load:.2f} on {os.cpu_count()} CPUs")
    base = None
    print(f"{'':40s} {'wall':>8s} {'cpu':>8s}")
    for name, argv in rows:
        t, cpu = timed(argv, args.runs, args.src)
        base = base or t
        print(f"{name:40s} {t:7.3f}s {cpu:7.3f}s  (wall {t / base:5.1f} x interpreter start)")


if __name__ == "__main__":
    main()

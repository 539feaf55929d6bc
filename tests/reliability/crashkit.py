"""Kill a saescope command just before its N-th rename, for every N, and check what it left.

`ForkServer` is one Python process that imports saescope, torch and the CLI once, then forks a
child per run (a fresh `python -m saescope...` pays several seconds of imports each time). A
child that is to be killed waits until `strace -f -p CHILD -e inject=SYSCALL:signal=KILL:when=N`
has attached, then runs `saescope.cli.main.run(argv)`; strace sends SIGKILL on entry to the N-th
call of SYSCALL, so the rename never happens. Python's `os.replace` is `rename(2)` on x86-64
(`renameat` where the kernel has no `rename`), safetensors' writer uses `renameat`, and
`saescope.io.replace_dir` uses `renameat2` (RENAME_EXCHANGE): each is swept on its own, since
strace counts calls per syscall and per thread.

Protocol: one JSON request per line on stdin, one JSON reply per line on stdout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

RENAME_SYSCALLS = ("rename", "renameat", "renameat2")
PRELOAD = ("torch", "numpy", "pyarrow.parquet", "saescope.cli.main", "saescope.sae.train",
           "saescope.curate.pipeline", "saescope.interpret.pipeline", "saescope.data.embed",
           "sentence_transformers", "optuna", "saescope.tune.study", "sklearn.decomposition")


def strace_problem() -> str | None:
    """Why the harness cannot run here (None when it can)."""
    if not sys.platform.startswith("linux"):
        return "the crash harness needs Linux (ptrace and strace)"
    exe = shutil.which("strace")
    if exe is None:
        return "strace is not installed (.ci/tests.sh installs it with apt-get when run as root)"
    with tempfile.TemporaryDirectory() as tmp:
        probe = subprocess.run([exe, "-qq", "-o", os.devnull, "-e", "inject=rename:signal=KILL:when=1",
                                sys.executable, "-c", "import os; open('p','w'); os.replace('p','q')"],
                               capture_output=True, cwd=tmp, text=True)
    if probe.returncode != -signal.SIGKILL and probe.returncode != 128 + signal.SIGKILL:
        return f"strace cannot trace or inject here (exit {probe.returncode}: {probe.stderr.strip()[:200]})"
    return None


# --------------------------------------------------------------------------- server side
def _child(req: dict[str, Any], gate: int | None) -> None:
    """In the forked child: wait for the tracer, run the command, exit with its code."""
    if gate is not None:
        os.read(gate, 1)
        os.close(gate)
    log = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.chdir(req["cwd"])
    code = 1
    try:
        for key, value in req.get("env", {}).items():
            os.environ[key] = value
        if req.get("prelude"):
            exec(req["prelude"], {})  # noqa: S102 - test-only set-up code (e.g. fast retries)
        from saescope.cli.main import run

        code = run(req["argv"])
    except BaseException:  # noqa: BLE001 - report any crash as exit 1 with its traceback
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve_one(req: dict[str, Any]) -> dict[str, Any]:
    trace, inject = req.get("trace", False), req.get("inject")
    use_strace = trace or inject is not None
    r, w = os.pipe() if use_strace else (None, None)
    pid = os.fork()
    if pid == 0:
        if w is not None:
            os.close(w)
        _child(req, r)
    tracer = None
    trace_file = req["log"] + ".strace"
    if use_strace:
        os.close(r)  # type: ignore[arg-type]
        cmd = ["strace", "-f", "-o", trace_file, "-p", str(pid), "-e",
               "trace=" + ",".join(RENAME_SYSCALLS)]
        if inject is not None:
            syscall, n = inject
            cmd += ["-e", f"inject={syscall}:signal=KILL:when={n}"]
        tracer = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        line = tracer.stderr.readline()  # "strace: Process PID attached"
        if "attached" not in line:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"error": f"strace did not attach: {line.strip()}"}
        os.write(w, b"x")  # type: ignore[arg-type]
        os.close(w)  # type: ignore[arg-type]
    _, status = os.waitpid(pid, 0)
    if tracer is not None:
        tracer.wait(timeout=60)
    reply: dict[str, Any] = {
        "code": os.waitstatus_to_exitcode(status),
        "killed": os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL,
    }
    if trace:
        reply["counts"] = _count_calls(Path(trace_file))
    return reply


def _count_calls(trace_file: Path) -> dict[str, int]:
    """Completed calls per syscall, the most by any one thread (strace counts per thread)."""
    per: Counter[tuple[str, str]] = Counter()
    for line in trace_file.read_text().splitlines():
        m = re.match(r"(\d+)\s+(rename|renameat|renameat2)\(", line)
        if m:
            per[(m.group(1), m.group(2))] += 1
    out: dict[str, int] = {}
    for (_, sc), n in per.items():
        out[sc] = max(out.get(sc, 0), n)
    return out


def serve() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for name in PRELOAD:  # import only: no thread pool may run before fork
        try:
            __import__(name)
        except ImportError:
            pass
    import torch

    torch.set_num_threads(1)
    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        try:
            reply = _serve_one(req)
        except Exception as exc:  # noqa: BLE001 - report to the test instead of dying
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


# --------------------------------------------------------------------------- test side
class ForkServer:
    """The test's handle on a running fork server (a context manager)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        full = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
                    HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                    MPLBACKEND="Agg", **(env or {}))
        src = str(Path(__file__).resolve().parents[2] / "src")
        full["PYTHONPATH"] = os.pathsep.join([src, full.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=full)
        ready = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not ready:
            raise RuntimeError("the fork server did not start")

    def run(self, argv: list[Any], cwd: Path, log: Path, *, trace: bool = False,
            inject: tuple[str, int] | None = None, prelude: str = "",
            env: dict[str, str] | None = None) -> dict[str, Any]:
        req = {"argv": [str(a) for a in argv], "cwd": str(cwd), "log": str(log), "trace": trace,
               "inject": list(inject) if inject else None, "prelude": prelude, "env": env or {}}
        self.proc.stdin.write(json.dumps(req) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        reply = json.loads(self.proc.stdout.readline())  # type: ignore[union-attr]
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            self.proc.wait(timeout=30)

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    serve()


# --------------------------------------------------------------------------- checks
LEFTOVER = re.compile(r"^\..+\.(tmp|old)$|^\.tmp[A-Za-z0-9]{6}$")


def visible_files(root: Path) -> list[str]:
    """Relative paths of the files under `root` outside hidden folders (what users read)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def leftovers(root: Path) -> list[str]:
    """Hidden temporaries of killed writes anywhere under `root` (hidden folders included)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if LEFTOVER.match(p.name))


def _strip(obj: Any, volatile: set[str]) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v, volatile) for k, v in obj.items() if k not in volatile}
    if isinstance(obj, list):
        return [_strip(v, volatile) for v in obj]
    return obj


def load(path: Path, volatile: set[str]) -> Any:
    """The content of an output file in a comparable form (raises if the file is not whole)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return _strip(pq.read_table(path).to_pylist(), volatile)
    if suffix == ".csv":
        import csv

        with open(path, newline="") as f:
            return _strip(list(csv.DictReader(f)), volatile)
    if suffix == ".json":
        return _strip(json.loads(path.read_text()), volatile)
    if suffix == ".jsonl":
        return [_strip(json.loads(line), volatile) for line in path.read_text().splitlines() if line]
    if suffix == ".safetensors":
        from safetensors.numpy import load_file

        return {k: v.tolist() for k, v in load_file(str(path)).items()}
    if suffix in (".png", ".svg", ".html", ".db", ".log"):
        return path.stat().st_size > 0  # rendered or binary state: present and non-empty
    return path.read_bytes()


def diff_trees(got: Path, want: Path, volatile: set[str], skip: set[str] = frozenset()) -> list[str]:
    """Differences between two output folders (visible files; `skip`: relative paths)."""
    a = [f for f in visible_files(got) if f not in skip]
    b = [f for f in visible_files(want) if f not in skip]
    out = []
    if a != b:
        out.append(f"files differ: only in got {sorted(set(a) - set(b))}, only in want {sorted(set(b) - set(a))}")
    for f in sorted(set(a) & set(b)):
        a_, b_ = load(got / f, volatile), load(want / f, volatile)
        if a_ != b_:
            keys = sorted(k for k in set(a_) | set(b_) if a_.get(k) != b_.get(k)) \
                if isinstance(a_, dict) and isinstance(b_, dict) else []
            out.append(f"{f}: content differs" + (f" (keys {keys})" if keys else ""))
    return out


def incomplete_problems(got: Path, want: Path, marks: list[str], volatile: set[str],
                        prefix_ok: set[str] = frozenset(), skip: set[str] = frozenset()) -> list[str]:
    """What a killed run left that looks complete but is not.

    A completion mark present means the whole folder must equal the uninterrupted run's. Any
    other visible file must be whole (it loads) and, if the uninterrupted run has it, hold the
    same content (`prefix_ok` files, append-only logs, may hold a prefix of it).
    """
    if not got.exists():
        return []
    if any((got / m).exists() for m in marks):
        return [f"looks complete ({m}) but {d}" for m in marks if (got / m).exists()
                for d in diff_trees(got, want, volatile, skip)]
    problems = []
    for f in visible_files(got):
        if f in skip:
            continue
        try:
            content = load(got / f, volatile)
        except Exception as exc:  # noqa: BLE001 - any unreadable visible file is a problem
            problems.append(f"{f}: visible but not whole ({type(exc).__name__}: {exc})")
            continue
        if (want / f).is_file():
            ref = load(want / f, volatile)
            if f in prefix_ok and isinstance(content, list) and content == ref[: len(content)]:
                continue
            if content != ref:
                problems.append(f"{f}: visible with other content than the uninterrupted run's")
    return problems


def sweep(fs: ForkServer, work: Path, argv: list[Any], marks: list[str], volatile: set[str],
          resume_argv: list[Any] | None = None, prefix_ok: set[str] = frozenset(),
          skip: set[str] = frozenset(), prelude: str = "", out: str = "out",
          allowed: dict[tuple[str, int], str] | None = None,
          before_run: Any = None) -> dict[str, Any]:
    """Run `argv` once whole, then killed before each rename and rerun; return what went wrong.

    Each run has its own folder under `work` (the command's cwd, so relative paths in
    manifests agree). `resume_argv` (default `argv`) is the rerun. `allowed` maps
    (syscall, N) to the reason a failure there is accepted. `before_run()` is called before
    every run (e.g. to re-arm a fault-injecting server).
    """
    before_run = before_run or (lambda: None)
    ref_dir = work / "ref"
    ref_dir.mkdir(parents=True)
    before_run()
    ref = fs.run(argv, ref_dir, work / "ref.log", trace=True, prelude=prelude)
    assert ref["code"] == 0, (work / "ref.log").read_text()[-3000:]
    assert not leftovers(ref_dir), leftovers(ref_dir)
    points = [(sc, n) for sc in RENAME_SYSCALLS for n in range(1, ref["counts"].get(sc, 0) + 1)]
    failures: dict[str, list[str]] = {}
    not_killed = []
    for sc, n in points:
        name = f"{sc}-{n}"
        run_dir = work / name
        run_dir.mkdir()
        before_run()
        killed = fs.run(argv, run_dir, work / f"{name}.log", inject=(sc, n), prelude=prelude)
        if not killed["killed"]:
            not_killed.append(name)
        problems = incomplete_problems(run_dir / out, ref_dir / out, marks, volatile, prefix_ok, skip)
        before_run()
        again = fs.run(resume_argv or argv, run_dir, work / f"{name}.rerun.log", prelude=prelude)
        if again["code"] != 0:
            problems.append(f"rerun exit {again['code']}: "
                            f"{(work / f'{name}.rerun.log').read_text()[-1500:]}")
        else:
            problems += diff_trees(run_dir / out, ref_dir / out, volatile, skip)
            problems += [f"leftover {p}" for p in leftovers(run_dir)]
        if problems and (sc, n) not in (allowed or {}):
            failures[name] = problems
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"points": len(points), "counts": ref["counts"], "failures": failures,
            "not_killed": not_killed}

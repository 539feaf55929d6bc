"""Atomic output: write to a temporary name beside the target, rename when complete.

A crash or an error half-way never leaves a file (or folder) that looks finished:

- `atomic_path` / `atomic_dir` hand out a hidden temporary `.NAME.XXXXXXXX.tmp` beside the
  target and rename it onto the target when the block succeeds. A successful write removes the
  hidden leftovers of earlier killed writes of the same target.
- `replace_dir` swaps a finished folder onto an existing one in one atomic step on Linux
  (`renameat2(RENAME_EXCHANGE)`); elsewhere it renames the old folder to `.NAME.old` first,
  and `recover_dir` (called by every writer and reader of such folders) puts `.NAME.old` back
  when a kill fell between the two renames.
- `append_jsonl` / `read_jsonl` write and read append-only logs; a last line torn by a crash
  is dropped on reading and cut off before the next append.
- `open_output` is the one output-folder policy (refuse, resume or overwrite): one writer per
  folder (an exclusive `flock`), `--overwrite` only of a folder saescope marked as its output,
  the new output built beside the old one and swapped in when complete.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from saescope.errors import ConfigError, InputError, SaescopeError

STATE_FILE = ".saescope-state.json"
"""Hidden file in an unfinished output folder: the fingerprint of the job writing it."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the same folder; rename it onto `path` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    started = time.time()
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600; give the file the permissions open() would
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
    remove_leftovers(path)
    if path.suffix == ".safetensors":
        _remove_safetensors_temps(path.parent, started)


def _remove_safetensors_temps(folder: Path, before: float) -> None:
    """safetensors writes `.tmpXXXXXX` beside its target and renames it; a kill leaves it."""
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        for entry in entries:
            if re.fullmatch(r"\.tmp[A-Za-z0-9]{6}", entry.name) and entry.is_file():
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime < before:  # not one being written right now
                        os.unlink(entry.path)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], overwrite: bool = False,
               owned: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; move it onto `path` when the block succeeds.

    Refuses an existing non-empty `path` unless `overwrite` is set and `check_replaceable`
    allows it (then the old folder is replaced only after the new one is complete). `owned`:
    `path` is saescope's own folder inside an output it holds (a checkpoint), replaced whatever
    it holds. The work folder of an `open_output` job (nothing in it yet) is written in place.
    """
    path = Path(path)
    if path.is_dir() and (path / STATE_FILE).is_file() and not _entries(path):
        yield path  # the work folder of an `open_output` job: the job publishes it
        return
    recover_dir(path)
    if not owned:
        check_output_dir(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if not owned:
            write_marker(tmp, "folder", _entries(tmp))
        replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    remove_leftovers(path)


def replace_dir(src: Path, dst: Path) -> None:
    """Move the finished folder `src` onto `dst`; at every instant `dst` is the old or the new one.

    On Linux the two folders are exchanged in one `renameat2(RENAME_EXCHANGE)` and the old one
    (now at `src`) is removed. Where that is not available, `dst` goes to `.NAME.old` first and
    `src` to `dst` second; a kill between the two leaves `.NAME.old`, which `recover_dir` puts
    back.
    """
    src, dst = Path(src), Path(dst)
    recover_dir(dst)
    if not dst.exists():
        os.replace(src, dst)
        return
    if _exchange(src, dst):
        shutil.rmtree(src, ignore_errors=True)
        return
    old = _old_name(dst)
    shutil.rmtree(old, ignore_errors=True)
    os.replace(dst, old)
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(path: str | os.PathLike[str]) -> bool:
    """Finish a swap of `replace_dir` cut by a kill: restore `.NAME.old` when `path` is missing.

    Returns True when a folder was restored. `.NAME.old` always held a complete folder (it was
    `path` until the first rename of the swap).
    """
    path = Path(path)
    old = _old_name(path)
    if not old.is_dir():
        return False
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        return False
    os.replace(old, path)
    return True


_LEFTOVER = r"\.{name}\.[A-Za-z0-9_]{{8}}\.tmp"


def remove_leftovers(path: str | os.PathLike[str]) -> list[Path]:
    """Remove hidden temporaries of killed writes of `path` (`.NAME.XXXXXXXX.tmp`, `.NAME.old`).

    Called after each successful write of `path` (and by a stage that removes `path` when it
    finishes): a killed checkpoint write leaves a folder of weights and optimiser state that
    nothing else would remove. Call `recover_dir` first where `.NAME.old` may be the only copy.
    """
    path = Path(path)
    pattern = re.compile(_LEFTOVER.format(name=re.escape(path.name)))
    prefix = f".{path.name}."
    removed = []
    with contextlib.suppress(FileNotFoundError), os.scandir(path.parent) as entries:
        for entry in entries:
            if not entry.name.startswith(prefix):
                continue
            p = Path(entry.path)
            if pattern.fullmatch(p.name) or p.name == _old_name(path).name:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def _old_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")


_RENAME_EXCHANGE = 2
_renameat2: Any = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2); False where the system cannot."""
    global _renameat2
    if not sys.platform.startswith("linux"):
        return False
    if _renameat2 is None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fn = libc.renameat2
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
            _renameat2 = fn
        except (OSError, AttributeError):  # no libc symbol (glibc < 2.28, musl): fall back
            _renameat2 = False
    if _renameat2 is False:
        return False
    at_fdcwd = -100
    rc = _renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False  # the file system or kernel does not support the exchange
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------------------- output folders
MARKER = ".saescope-output"
"""Hidden file in every output folder saescope creates: what wrote it and, once finished, the
entries it holds. `--overwrite` replaces only a folder with this mark and no other entries."""

LOCK_FILE = ".saescope-lock"
"""Hidden file in an output folder whose one writer holds an exclusive `flock` on it (the
holder's pid, host and command are written into it)."""

DERIVED = (".saescope-cache", "plots", "report.html")
"""What `plot`, `report` and `dashboard` add to a finished output (saescope's, not foreign)."""

_BOOKKEEPING = re.compile(r"\.saescope-(output|lock|state\.json)|\..+\.(tmp|old|parts|saescope-lock)"
                          r"|\.tmp[A-Za-z0-9]{6}")


def _entries(folder: Path) -> list[str]:
    """Names in `folder` other than saescope's bookkeeping and hidden temporaries of killed writes."""
    return sorted(p.name for p in folder.iterdir() if not _BOOKKEEPING.fullmatch(p.name))


def _marker(folder: Path) -> dict[str, Any] | None:
    """The mark of a saescope output ({} when unreadable or an older unfinished run's state); None
    when `folder` was not written by saescope."""
    try:
        mark = json.loads((folder / MARKER).read_text())
        return mark if isinstance(mark, dict) else {}
    except FileNotFoundError:
        return {} if (folder / STATE_FILE).is_file() else None
    except (OSError, ValueError):
        return {}


def write_marker(folder: Path, what: str, entries: list[str] | None = None) -> None:
    """Mark `folder` as a saescope output (`entries`: what the finished output holds).

    Written in place, not renamed: a torn mark still marks the folder as saescope's (with its
    entries unknown), and a kill just after a stage's completion mark leaves nothing to redo.
    """
    from saescope import __version__

    with open(folder / MARKER, "w", encoding="utf-8") as f:
        f.write(json.dumps({"saescope": __version__, "what": what, "entries": entries}) + "\n")


def foreign_files(folder: str | os.PathLike[str]) -> list[str]:
    """Entries of `folder` that saescope did not write: all of them in a folder without its mark,
    those not in the mark's list in a finished output."""
    folder = Path(folder)
    names = _entries(folder)
    mark = _marker(folder)
    if mark is None:
        return names
    known = mark.get("entries")
    if not isinstance(known, list):
        return []  # an unfinished run: it holds only what the stage writes
    return [n for n in names if n not in known and n not in DERIVED]


def check_replaceable(out: str | os.PathLike[str], inputs: Any = ()) -> None:
    """Raise `ConfigError` unless `--overwrite` may replace the folder `out`: never the current
    folder or one holding it, never a folder holding an input, never one holding foreign files."""
    out = Path(out)
    here = out.resolve()
    cwd = Path.cwd().resolve()
    if here == cwd or here in cwd.parents:
        raise ConfigError(f"{out}: is the current folder or holds it; --overwrite never replaces "
                          "it (give a new --out)")
    for p in inputs:
        if p is not None and (here == Path(p).resolve() or here in Path(p).resolve().parents):
            raise ConfigError(f"{out}: holds the input {p}; --overwrite would delete it "
                              "(give another --out)")
    if not out.is_dir():
        return
    foreign = foreign_files(out)
    if foreign:
        why = ("is not a saescope output (no .saescope-output mark)" if _marker(out) is None
               else "holds files saescope did not write")
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise ConfigError(f"{out}: not replaced: it {why} ({shown}); move them away or give "
                          "another --out")


def lock_output(folder: Path) -> int | None:
    """Take the exclusive lock of `folder` (its `LOCK_FILE`); returns the descriptor to close to
    release it (the kernel releases it when the process dies). Another holder: `ConfigError`
    naming it. None where there is no `flock` (not POSIX)."""
    return _lock(folder / LOCK_FILE, folder)


def _lock(lock: Path, shown: Path) -> int | None:
    """An exclusive `flock` on the file `lock` (created if missing), the holder recorded in it;
    `ConfigError` naming `shown` and the holder when another process has it. The lock is taken
    on the file that `lock` names now: a file its holder unlinked (`hold_output_files`) is
    opened again."""
    try:
        import fcntl
    except ImportError:
        return None
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise ConfigError(f"{shown}: another saescope process is writing it ({_holder(holder)}); "
                              "wait for it to finish or give another --out") from None
        try:
            here, now = os.fstat(fd), os.stat(lock)
            if (here.st_dev, here.st_ino) == (now.st_dev, now.st_ino):
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # unlinked by the holder that released it: lock the file there now
    import socket

    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                              "command": " ".join(sys.argv),
                              "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}).encode(), 0)
    return fd


def file_lock_path(out: str | os.PathLike[str]) -> Path:
    """The lock of an output file (or folder of parts) written beside its manifest:
    the hidden sibling `.NAME.saescope-lock`."""
    out = Path(out)
    return out.parent / f".{out.name}.saescope-lock"


@contextlib.contextmanager
def hold_output_files(*outs: str | os.PathLike[str]) -> Iterator[None]:
    """One writer per output file: the exclusive lock of each of `outs` (`file_lock_path`),
    held for the block, as `open_output` holds a folder's. A second process writing the same
    output gets `ConfigError` naming the holder; the kernel releases the lock of a killed
    process. Used by embed, activations and encode, whose outputs are a Parquet file or a folder
    of parts with `<out>.manifest.json` beside it. The lock file is removed on release (while
    still held, so a process waiting on it opens the path again), and so are the folders made
    for it when the run leaves them empty (a refused run leaves no trace)."""
    held: list[tuple[Path, int]] = []
    made: list[Path] = []
    try:
        for out in sorted({Path(o) for o in outs}):
            lock = file_lock_path(out)
            made += [d for d in (lock.parent, *lock.parent.parents) if not d.exists()][::-1]
            lock.parent.mkdir(parents=True, exist_ok=True)
            fd = _lock(lock, out)
            if fd is not None:
                held.append((lock, fd))
        yield
    finally:
        for lock, fd in reversed(held):
            with contextlib.suppress(OSError):
                lock.unlink()
            os.close(fd)
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()  # only when empty


def _holder(text: str) -> str:
    from saescope.safetext import for_terminal

    try:
        h = json.loads(text)
        return for_terminal(f"pid {h['pid']} on {h['host']} since {h['since']}: {h['command']}")
    except (ValueError, KeyError, TypeError):
        return "holder not yet recorded"


class OutputJob:
    """An output folder held by this process (`open_output`): write into `work`; `finish`
    publishes it at `out`, `abort` leaves `out` as it was. Also a context manager (finish on
    success, abort on an exception)."""

    def __init__(self, out: Path, work: Path, resume: bool, what: str, locks: list[int]) -> None:
        self.out, self.work, self.resume, self.what = out, work, resume, what
        self._locks = locks

    def finish(self) -> None:
        """Mark the output finished and, when it was built beside `out`, swap it in."""
        write_marker(self.work, self.what, _entries(self.work))
        (self.work / STATE_FILE).unlink(missing_ok=True)
        if self.work != self.out:
            fd = lock_output(self.work)  # locked before it becomes `out`: no gap for a second writer
            if fd is not None:
                self._locks.append(fd)
            replace_dir(self.work, self.out)
            remove_leftovers(self.out)
        self.release()

    def abort(self) -> None:
        """Drop a new output built beside `out` (an unfinished one in place stays, to resume)."""
        if self.work != self.out:
            shutil.rmtree(self.work, ignore_errors=True)
        self.release()

    def release(self) -> None:
        """Release the lock(s); the holder's pid, host and command line are erased first (a
        command line can carry what its user would not leave in an output folder)."""
        for fd in self._locks:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)
        self._locks.clear()

    def __enter__(self) -> OutputJob:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()


def open_output(
    out: str | os.PathLike[str],
    overwrite: bool = False,
    resume: bool = True,
    fingerprint: Any = None,
    complete: str = "manifest.json",
    what: str = "run",
    inputs: Any = (),
) -> OutputJob:
    """The output-folder policy of every stage: lock `out`, then decide where the job writes.

    - A folder holding entries without saescope's mark (`MARKER`) is refused, with or
      without `overwrite`, before anything is written into it.
    - The exclusive lock (`lock_output`) is taken first; a second writer gets `ConfigError`.
    - `out` missing or empty (saescope's bookkeeping aside): the job writes in place; the job's
      `fingerprint` (any JSON value) goes to the hidden `STATE_FILE`; `resume` False.
    - `overwrite`: allowed only where `check_replaceable` allows it (never the current folder, a
      folder holding one of `inputs`, or one holding foreign files). The new output is built in a
      hidden sibling `.NAME.XXXXXXXX.tmp` and swapped onto `out` by `finish`; until then, and
      after a failure, `out` is the old output.
    - holds `complete` (a finished run, `what` names it in the error): refused (use --overwrite).
    - holds an unfinished run of the same fingerprint: `resume` True when `resume` (the stage
      continues it in place), else refused; another fingerprint: refused.
    """
    out = Path(out)
    with contextlib.suppress(FileNotFoundError):  # another process restored it first
        recover_dir(out)  # a swap cut between its two renames (where there is no exchange)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if out.is_dir() and _entries(out) and _marker(out) is None:
        check_replaceable(out, inputs)  # refuses, naming the foreign files
    if overwrite:
        check_replaceable(out, inputs)
    out.mkdir(parents=True, exist_ok=True)
    fd = lock_output(out)
    locks = [fd] if fd is not None else []
    try:
        work, resumed = _claim(out, overwrite, resume, fingerprint, complete, what)
    except BaseException:
        for fd in locks:
            os.close(fd)
        raise
    return OutputJob(out, work, resumed, what, locks)


def _claim(out: Path, overwrite: bool, resume: bool, fingerprint: Any, complete: str,
           what: str) -> tuple[Path, bool]:
    """Under the lock: where the job writes and whether it resumes (see `open_output`)."""
    if not _entries(out):  # nothing written yet (or only a torn state): a fresh start in place
        _start(out, what, fingerprint)
        return out, False
    if overwrite:
        remove_leftovers(out)  # new outputs of killed --overwrite runs
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        _start(work, what, fingerprint)
        return work, False
    if (out / complete).exists():
        raise ConfigError(f"{out}: holds a finished {what} ({complete}); use --overwrite")
    state = out / STATE_FILE
    if not state.is_file():
        raise ConfigError(f"{out}: exists and is not empty (use --overwrite)")
    try:
        saved = json.loads(state.read_text()).get("fingerprint")
    except (ValueError, AttributeError):
        saved = None
    if saved != jsonable(fingerprint):
        raise ConfigError(f"{out}: holds an unfinished run with other settings; use the same "
                          "settings to resume, or --overwrite to start again")
    if not resume:
        raise ConfigError(f"{out}: holds an unfinished run; use --resume or --overwrite")
    return out, True


def _start(folder: Path, what: str, fingerprint: Any) -> None:
    if not (folder / MARKER).is_file():
        write_marker(folder, what)
    # Written in place, not renamed: a torn state is treated as nothing written yet.
    with open(folder / STATE_FILE, "w", encoding="utf-8") as f:
        f.write(json.dumps({"fingerprint": fingerprint}, default=_json_default) + "\n")
        f.flush()
        os.fsync(f.fileno())


def check_output_dir(path: str | os.PathLike[str], overwrite: bool) -> None:
    """Raise a clear error if `path` exists and is not empty, unless `overwrite` is set and
    `check_replaceable` allows replacing it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SaescopeError(f"output path {path} exists and is not a folder")
    if path.is_dir() and _entries(path):
        if not overwrite:
            raise SaescopeError(f"output folder {path} exists and is not empty (use --overwrite)")
        check_replaceable(path)

def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write JSON atomically (indent 2, keys in insertion order)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, with an error that names it when it is missing or malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SaescopeError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise SaescopeError(f"{path}: invalid JSON ({exc})") from None


def read_checkpoint(cfg_path: Path, weights_path: Path, required: Any) -> tuple[dict[str, Any], dict]:
    """Read a checkpoint's JSON config and safetensors weights (on the CPU), with errors that name
    the file: invalid JSON or not an object, an unreadable weights file, a `required` tensor
    missing, or a tensor holding NaN or Inf (refused at load: codes would be NaN)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        cfg = json.loads(Path(cfg_path).read_text())
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{cfg_path}: invalid JSON ({exc})") from None
    if not isinstance(cfg, dict):
        raise InputError(f"{cfg_path}: must hold a JSON object of fields, got a "
                         f"{type(cfg).__name__}")
    try:
        tensors = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{weights_path}: cannot read ({exc})") from None
    missing = [k for k in required if k not in tensors]
    if missing:
        raise InputError(f"{weights_path}: missing tensor(s) {', '.join(missing)}")
    bad = [k for k, t in tensors.items() if t.is_floating_point() and not bool(t.isfinite().all())]
    if bad:
        raise InputError(f"{weights_path}: tensor(s) {', '.join(sorted(bad))} hold NaN or Inf "
                         "(a diverged or damaged SAE)")
    return cfg, tensors


def read_jsonl(path: str | os.PathLike[str]) -> list[Any]:
    """The rows of an append-only JSON Lines log; [] when the file does not exist.

    A last line that is cut short (no final newline and not valid JSON: a crash or a full disk
    during the append) is dropped. A malformed line before the last raises `InputError`
    naming `file:line`.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    rows = []
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        last = lineno == len(lines)  # no newline after it: the append may have been cut
        try:
            rows.append(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if last:
                break
            raise InputError(f"{path}:{lineno}: invalid JSON line ({exc})") from None
    return rows


def append_jsonl(path: str | os.PathLike[str], rows: list[Any]) -> None:
    """Append rows to a JSON Lines log and fsync, so a finished row survives a crash.

    A last line an earlier crash left without its newline is ended when it is whole JSON and
    cut off when it is not (`read_jsonl` dropped it), so a torn line never ends up mid-file.
    """
    with open(path, "a+b") as f:
        _end_last_line(f)
        f.write("".join(json.dumps(r, default=_json_default) + "\n" for r in rows).encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())


def _end_last_line(f: Any) -> None:
    """Give a log opened "a+b" a final newline: end a whole last line, cut a torn one."""
    end = f.seek(0, os.SEEK_END)
    if end == 0:
        return
    f.seek(end - 1)
    if f.read(1) == b"\n":
        return
    f.seek(0)
    data = f.read()
    start = data.rfind(b"\n") + 1
    try:
        json.loads(data[start:].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        f.truncate(start)
        return
    f.write(b"\n")


def jsonable(obj: Any) -> Any:
    """`obj` as `write_json` writes it and `read_json` reads it back (numpy scalars and arrays
    as numbers and lists, paths as strings), to compare with what a file holds."""
    return json.loads(json.dumps(obj, default=_json_default))


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

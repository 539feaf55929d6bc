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
- `prepare_output` is the one output-folder policy (refuse, resume or overwrite).
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
def atomic_dir(path: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder; move it onto `path` when the block succeeds.

    Refuses an existing non-empty `path` unless `overwrite` is set (then the old folder is
    replaced only after the new one is complete).
    """
    path = Path(path)
    recover_dir(path)
    check_output_dir(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
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


def check_output_dir(path: str | os.PathLike[str], overwrite: bool) -> None:
    """Raise a clear error if `path` exists and is non-empty and `overwrite` is not set."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SaescopeError(f"output path {path} exists and is not a folder")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise SaescopeError(f"output folder {path} exists and is not empty (use --overwrite)")


def prepare_output(
    out: str | os.PathLike[str],
    overwrite: bool = False,
    resume: bool = True,
    fingerprint: Any = None,
    complete: str = "manifest.json",
    what: str = "run",
) -> bool:
    """The output-folder policy of every stage; returns True when there is work to resume.

    - `out` missing or empty (or holding only the state of a run that wrote nothing yet):
      created; the job's `fingerprint` (any JSON value; None where the stage resumes nothing or
      checks what it resumes itself) is written to the hidden `STATE_FILE`; returns False.
    - `overwrite`: the completion mark `complete` is removed first (so the folder never looks
      finished while the new run writes), then everything else; as for a new folder.
    - holds `complete` (a finished run, `what` names it in the error): refused (use --overwrite).
    - holds an unfinished run (`STATE_FILE`) of the same fingerprint: returns True when
      `resume` (the stage continues it), else refused (use --resume or --overwrite).
    - holds an unfinished run of another fingerprint, or files of no run: refused.

    The stage calls `finish_output` once it has written `complete`.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    state = out / STATE_FILE
    if out.is_dir() and [p.name for p in out.iterdir()] == [STATE_FILE]:
        state.unlink()  # nothing written yet (or a torn state): a fresh start
    if overwrite and out.is_dir():
        (out / complete).unlink(missing_ok=True)
        for p in out.iterdir():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    elif out.is_dir() and any(out.iterdir()):
        if (out / complete).exists():
            raise ConfigError(f"{out}: holds a finished {what} ({complete}); use --overwrite")
        if not state.is_file():
            raise ConfigError(f"{out}: exists and is not empty (use --overwrite)")
        saved = read_json(state).get("fingerprint")
        if saved != jsonable(fingerprint):
            raise ConfigError(
                f"{out}: holds an unfinished run with other settings; use the same settings "
                "to resume, or --overwrite to start again"
            )
        if not resume:
            raise ConfigError(f"{out}: holds an unfinished run; use --resume or --overwrite")
        return True
    out.mkdir(parents=True, exist_ok=True)
    # Written in place, not renamed: it is the folder's first file, so a torn one is alone in
    # the folder, which the check above treats as nothing written yet.
    with open(state, "w", encoding="utf-8") as f:
        f.write(json.dumps({"fingerprint": fingerprint}, default=_json_default) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return False


def finish_output(out: str | os.PathLike[str]) -> None:
    """Remove the state `prepare_output` wrote: call after writing the completion mark."""
    (Path(out) / STATE_FILE).unlink(missing_ok=True)


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
    the file: invalid JSON, an unreadable weights file, or a `required` tensor missing."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        cfg = json.loads(Path(cfg_path).read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{cfg_path}: invalid JSON ({exc})") from None
    try:
        tensors = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"{weights_path}: cannot read ({exc})") from None
    missing = [k for k in required if k not in tensors]
    if missing:
        raise InputError(f"{weights_path}: missing tensor(s) {', '.join(missing)}")
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

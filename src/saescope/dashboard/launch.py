"""Start the Streamlit dashboard on a run folder (`saescope dashboard RUN_DIR`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from saescope.errors import ConfigError, InputError
from saescope.run_layout import RunLayout

APP = Path(__file__).with_name("app.py")


def dashboard_command(run_dir: str | Path | None, host: str = "127.0.0.1", port: int = 8501) -> list[str]:
    """The `streamlit run` command line for a run folder (headless, no usage statistics)."""
    if not 0 < port < 65536:
        raise ConfigError(f"--port: {port} is not a TCP port (1-65535)")
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--global.developmentMode", "false",
        "--client.toolbarMode", "minimal",
        "--", str(Path(run_dir).resolve()) if run_dir is not None else "",
    ]


def check_run_dir(run_dir: str | Path | None, parts: dict | None = None) -> RunLayout:
    """The run's layout (folder and/or stage outputs), or an InputError naming what is wrong."""
    lay = RunLayout.from_parts(run_dir, **(parts or {}))
    if not (lay.data or lay.sae or lay.interpret or lay.curate):
        raise InputError(f"{run_dir}: holds no run artifacts (no data, sae, interpret or curate)")
    return lay


def check_port(host: str, port: int) -> None:
    """A ConfigError naming the address when `host:port` cannot be bound (in use, bad host)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: cannot resolve ({exc})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            sock.bind(addr)
        except OSError as exc:
            raise ConfigError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror}); "
                              "choose another --port") from None


def check_launch(run_dir: str | Path | None, host: str = "127.0.0.1", port: int = 8501,
                 parts: dict | None = None) -> RunLayout:
    """Everything that can fail before the server starts: the run (folder and/or stage
    outputs), the port."""
    lay = check_run_dir(run_dir, parts)
    dashboard_command(run_dir, host, port)  # validates the port number
    check_port(host, port)
    return lay


def launch(run_dir: str | Path | None, host: str = "127.0.0.1", port: int = 8501,
           parts: dict | None = None) -> int:
    """Run the dashboard in the foreground until interrupted.

    On POSIX this process becomes the Streamlit server (exec), so a signal sent to it (Ctrl+C,
    a service manager's SIGTERM) stops the server and leaves no orphan behind. Elsewhere
    Streamlit runs as a child and its exit code is returned.
    """
    check_launch(run_dir, host, port, parts)
    cmd = dashboard_command(run_dir, host, port)
    given = {k: ([str(Path(p).resolve()) for p in v] if isinstance(v, (list, tuple))
                 else str(Path(v).resolve())) for k, v in (parts or {}).items() if v}
    env = dict(os.environ, SAESCOPE_RUN_DIR=str(Path(run_dir).resolve()) if run_dir else "",
               SAESCOPE_RUN_PARTS=json.dumps(given))
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(cmd[0], cmd, env)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130

"""Serve the MLflow UI (an ``mlflow server`` subprocess) for a tracking store, on 127.0.0.1.

Used by ``bench ui`` and by the tests, which start a real server the same way. The server runs
in its own process group, so stopping it stops its web workers too, and with MLflow's job
runner switched off (it starts a dozen background consumers that ``bench ui`` never needs) and
its usage telemetry off.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from bench.errors import TrackingError
from bench.tracking.session import (artifact_root, check_server, is_server, mlflow_session,
                                    sqlite_path)
from bench.tracking.sqlite_store import ensure_store, store_lock


def server_command(tracking_uri: str, port: int, host: str = "127.0.0.1",
                   artifacts_dir: Path | None = None, workers: int = 1) -> list[str]:
    """The ``mlflow server`` command line for a backend store.

    Artifacts of experiments that bench created in a local SQLite store live at their own
    ``file://`` locations (the server reads them directly); experiments created through the
    server get proxied artifacts under ``artifacts_dir`` (default: next to the database).
    """
    if is_server(tracking_uri):
        raise TrackingError(f"{tracking_uri} is an MLflow server already; it serves its own UI",
                            hint=f"open {tracking_uri} in a browser")
    if artifacts_dir is None:
        artifacts_dir = artifact_root(tracking_uri)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri,
           "--host", host, "--port", str(port), "--workers", str(workers)]
    if artifacts_dir is not None:
        cmd += ["--artifacts-destination", str(artifacts_dir)]
    return cmd


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # as in bench.tracking.logger
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_server(tracking_uri: str, port: int, host: str = "127.0.0.1",
                 artifacts_dir: Path | None = None, log_path: Path | None = None
                 ) -> subprocess.Popen:
    """Start ``mlflow server`` in the background (own process group); see :func:`wait_until_up`."""
    cmd = server_command(tracking_uri, port, host, artifacts_dir)
    out = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=server_env(),
                                start_new_session=True)
    finally:
        if log_path is not None:
            out.close()


def wait_until_up(url: str, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Poll ``url``/health until it answers 200; raise if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise TrackingError(f"the MLflow server for {url} exited with code {proc.returncode}")
        try:
            check_server(url, timeout=2)
            return
        except TrackingError:
            time.sleep(0.25)
    raise TrackingError(f"the MLflow server at {url} did not answer within {timeout:.0f} s")


def stop_server(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop a server from :func:`start_server` and its workers (its process group)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def serve(tracking_uri: str, port: int = 5000, host: str = "127.0.0.1", *,
          log: Callable[[str], None] | None = None) -> int:
    """Run the UI in the foreground until Ctrl-C; return the server's exit code. ``log``
    receives the address to open (and a note when the store does not exist yet)."""
    say = log or (lambda msg: None)
    if port == 0:
        port = free_port(host)
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex((host, port)) == 0:
                raise TrackingError(f"port {port} on {host} is in use",
                                    hint="choose another with --port (0 picks a free one)")
    db = sqlite_path(tracking_uri)
    if db is not None:  # made (or a half-made one rebuilt) here, whole, not by the server
        if not db.exists():
            say(f"note: {db} does not exist yet; an empty store is created")
        with mlflow_session(tracking_uri), store_lock(db):
            note = ensure_store(db, artifact_root(tracking_uri))
        if note:
            say(f"warning: {note}")
    # `kill` (SIGTERM) or a closed terminal (SIGHUP) must stop the server too: it runs in its
    # own process group and would otherwise outlive bench ui
    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    proc = start_server(tracking_uri, port, host)
    url = f"http://{host}:{port}"
    try:
        wait_until_up(url, proc)
        say(f"MLflow UI for {tracking_uri}\n  {url}/#/experiments?workflowType=machine_learning"
            f"   (Ctrl-C stops it)")
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_server(proc)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

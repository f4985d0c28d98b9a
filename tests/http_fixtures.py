"""A local HTTP server on 127.0.0.1 for download tests: named bytes or a folder's files, with
Range requests, a switch to ignore them, and connections that drop mid-body on request."""

from __future__ import annotations

import http.server
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    #: close the connection after this many body bytes, for the next ``drops`` requests
    drop_after: int | None = None
    drops: int = 0
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        st = self.state
        rng = self.headers.get("Range")
        st.requests.append((self.path, rng))
        body = st.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404, "not found")
            return
        start, end = 0, len(body) - 1
        if rng and not st.ignore_range:
            spec = rng.split("=", 1)[1]
            a, _, b = spec.partition("-")
            start = int(a)
            end = int(b) if b else len(body) - 1
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(body)}")
        else:
            self.send_response(200)
        part = body[start:end + 1]
        self.send_header("Content-Length", str(len(part)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if st.drop_after is not None and st.drops > 0:
            st.drops -= 1
            self.wfile.write(part[: st.drop_after])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-body
            self.close_connection = True
            return
        self.wfile.write(part)


class LocalServer:
    """An HTTP server on 127.0.0.1 in a thread: ``with LocalServer() as srv: srv.url(name)``."""

    def __init__(self) -> None:
        self.state = ServerState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> "LocalServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def serve(self, name: str, data: bytes) -> str:
        """Serve ``data`` as ``name``; returns its URL."""
        self.state.files[name] = data
        return self.url(name)

    def serve_folder(self, folder: Path) -> str:
        """Serve every file under ``folder`` (as it is now) by its relative path; returns the
        base URL."""
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                self.serve(path.relative_to(folder).as_posix(), path.read_bytes())
        return self.base

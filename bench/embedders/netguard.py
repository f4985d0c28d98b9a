"""Refuse network connections for the span of one call, and remember what was attempted.

Many third-party model packages download weights inside their loading function, ignoring the
path they are given. ``bench`` runs offline and records the sha256 of the weights a number came
from, so such a download must fail at once, with a message that names the package and the file
it wanted, instead of hanging on a timeout or loading weights nobody identified.

:func:`refuse_network` patches name resolution, ``socket.connect`` and ``http.client``'s request
line for the duration of a ``with`` block: connections to the loopback interface and to Unix
sockets go through, anything else raises :class:`NetworkRefused` (an ``OSError``, so the
package's own error handling sees an ordinary connection failure). The patch is process-wide:
it is meant for loading a model, before any worker threads start.
"""

from __future__ import annotations

import ipaddress
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", ""})


class NetworkRefused(ConnectionRefusedError):
    """A connection to a non-local address was refused by :func:`refuse_network`."""


@dataclass
class Attempts:
    """What the guarded code tried to reach: full URLs where ``http.client`` saw them, else
    host names and addresses, in order and without repeats."""

    urls: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.urls or self.hosts)

    def describe(self) -> str:
        """One phrase naming the first targets (URLs preferred)."""
        items = self.urls or self.hosts
        more = f" (and {len(items) - 2} more)" if len(items) > 2 else ""
        return ", ".join(items[:2]) + more

    def _add(self, bucket: list[str], item: str) -> None:
        if item not in bucket:
            bucket.append(item)


def is_local(host: Any) -> bool:
    """Whether ``host`` (a name or an address) is this machine's loopback interface."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    name = str(host).strip("[]").lower()
    if name in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


@contextmanager
def refuse_network() -> Iterator[Attempts]:
    """Within the block, refuse every connection that leaves the machine; yield the record of
    attempts (filled in as they happen, complete when the block ends)."""
    import http.client

    attempts = Attempts()
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    real_putrequest = http.client.HTTPConnection.putrequest

    def refuse(target: str) -> NetworkRefused:
        return NetworkRefused(f"bench refused a network connection to {target} (offline: weights "
                              f"must come from a file given to the model)")

    def target_of(sock: socket.socket, address: Any) -> str | None:
        """``host:port`` of a non-local internet address, ``None`` for a local one."""
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
            return None
        host = address[0]
        return None if is_local(host) else f"{host}:{address[1]}"

    def connect(self: socket.socket, address: Any) -> None:
        target = target_of(self, address)
        if target is not None:
            attempts._add(attempts.hosts, target)
            raise refuse(target)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        target = target_of(self, address)
        if target is not None:
            attempts._add(attempts.hosts, target)
            raise refuse(target)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, port: Any = None, *args: Any, **kwargs: Any) -> Any:
        if not is_local(host):
            name = host.decode(errors="replace") if isinstance(host, bytes) else str(host)
            target = name if port is None else f"{name}:{port}"
            attempts._add(attempts.hosts, target)
            raise refuse(target)
        return real_getaddrinfo(host, port, *args, **kwargs)

    def putrequest(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        # the request line carries the path the package wanted: the most useful thing to name
        if not is_local(self.host):
            scheme = "https" if isinstance(self, http.client.HTTPSConnection) else "http"
            full = url if "://" in url else f"{scheme}://{self.host}{url}"
            attempts._add(attempts.urls, full)
        return real_putrequest(self, method, url, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    http.client.HTTPConnection.putrequest = putrequest  # type: ignore[method-assign]
    try:
        yield attempts
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo  # type: ignore[assignment]
        http.client.HTTPConnection.putrequest = real_putrequest  # type: ignore[method-assign]

"""Listening sockets that several worker processes can share with SO_REUSEPORT."""

from __future__ import annotations

import socket


def reuseport_socket(host: str, port: int, backlog: int, listen: bool = True) -> socket.socket:
    """A bound, listening socket; each worker opens its own and the kernel spreads connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    if listen:  # a bound, non-listening member only reserves the port for the group
        sock.listen(backlog)
    sock.setblocking(False)
    return sock

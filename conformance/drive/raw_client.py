"""A raw HTTP/1.1 client on a plain socket, for tests that must close the connection at a known point.

An HTTP library reads and closes when it likes; this client sends one request, reads exactly as
far as the test says (the head, a marker in the body), and then closes (``close``: FIN) or resets
(``abort``: RST) the connection. Every read has a timeout and fails with what it saw. It records
``client.request``, ``client.read`` and ``client.close`` in the test's timeline.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from typing import Any

from bgtasks_conformance.observe.timeline import ExpectationFailed, Timeline


class RawClient:
    """One connection to ``127.0.0.1:port``; create it with :meth:`connect`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeline: Timeline,
                 timeout: float) -> None:
        self.reader = reader
        self.writer = writer
        self.timeline = timeline
        self.timeout = timeout
        self.received = b""

    @classmethod
    async def connect(cls, port: int, timeline: Timeline, timeout: float) -> RawClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        return cls(reader, writer, timeline, timeout)

    @property
    def closed(self) -> bool:
        return self.writer.is_closing()

    async def send(self, method: str, path: str, body: Any = None) -> None:
        """Send one request (a JSON body, if given) and flush it."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", "host: 127.0.0.1", f"content-length: {len(payload)}"]
        if body is not None:
            head.append("content-type: application/json")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        await self.writer.drain()
        self.timeline.record("client.request", method=method, path=path, size=len(payload))

    async def read_until(self, marker: bytes, what: str) -> bytes:
        """Read until ``marker`` has arrived (``what`` names it in a failure); all received so far."""
        __tracebackhide__ = True
        while marker not in self.received:
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), self.timeout)
            except (TimeoutError, ConnectionError) as error:
                raise ExpectationFailed(f"expected {what} within {self.timeout:g}s, saw {type(error).__name__} "
                                        f"after {self.received!r}; timeline:\n{self.timeline.format()}") from None
            if not chunk:
                raise ExpectationFailed(f"expected {what}, but the server closed the connection after "
                                        f"{self.received!r}; timeline:\n{self.timeline.format()}")
            self.received += chunk
        self.timeline.record("client.read", what=what, size=len(self.received))
        return self.received

    async def read_head(self) -> int:
        """Read the status line and headers; the status code."""
        __tracebackhide__ = True
        received = await self.read_until(b"\r\n\r\n", "the response's status line and headers")
        status_line = received.split(b"\r\n", 1)[0]
        return int(status_line.split()[1])

    async def read_to_end(self) -> bytes:
        """Read until the server closes the connection; everything received."""
        __tracebackhide__ = True
        while True:
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), self.timeout)
            except TimeoutError:
                raise ExpectationFailed(f"expected the server to close the connection within {self.timeout:g}s; "
                                        f"timeline:\n{self.timeline.format()}") from None
            except ConnectionError:
                chunk = b""
            if not chunk:
                return self.received
            self.received += chunk

    async def close(self) -> None:
        """Close the connection (FIN; the kernel sends RST instead if unread data is waiting).

        Also when the server closed it first: the stream is closed either way, never left to the
        garbage collector (which warns, an error where a project sets ``filterwarnings = error``).
        """
        if not self.closed:
            self.timeline.record("client.close", how="close")
        self.writer.close()
        await _closed(self.writer)

    async def abort(self) -> None:
        """Reset the connection (RST): what a killed client or a dropped network looks like."""
        if not self.closed:
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.timeline.record("client.close", how="abort")
        self.writer.close()
        await _closed(self.writer)


async def _closed(writer: asyncio.StreamWriter) -> None:
    try:
        await writer.wait_closed()
    except ConnectionError:
        pass

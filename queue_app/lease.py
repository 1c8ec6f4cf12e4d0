"""One run at a time per delivery id: a lease in Redis, held (and renewed) while a worker runs the task.

A message can be delivered again while its first delivery still runs: kombu gives back a worker's
unacknowledged messages when its connection to the broker drops (a broker restart), though the pool
process keeps running them. The second delivery then waits for the lease: once the first run has
settled (recorded in ``bgtasks:settled``), the duplicate is dropped; if the holder died (its lease is no
longer renewed, or, on this host, its process is gone), the duplicate runs the task.
"""

from __future__ import annotations

import os
import socket
import threading

from . import records

LEASE = "bgtasks:lease:"  # + queue id: "host:pid" of the process running it
SETTLED = "bgtasks:settled"  # queue id -> the state its run ended in
TTL_MS = 2000
RENEW = 0.5  # seconds between renewals
POLL = 0.1  # seconds between looks at a lease held by a live process (the target's own wait, not the suite's)


def _alive_here(holder: str) -> bool:
    """Whether ``holder`` ("host:pid") may still run: on another host, assume so (its lease will lapse)."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lease:
    def __init__(self, broker_url: str, queue_id: str) -> None:
        self.client = records.client(broker_url, patient=True)
        self.key, self.queue_id = LEASE + queue_id, queue_id
        self.me = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def settled(self) -> bool:
        return bool(self.client.hexists(SETTLED, self.queue_id))

    def acquire(self) -> bool:
        """Hold the lease (renewed until :meth:`release`); False when the task has settled meanwhile."""
        while not self.settled():
            if self.client.set(self.key, self.me, nx=True, px=TTL_MS):
                self._renewer = threading.Thread(target=self._renew, name="bgtasks-lease", daemon=True)
                self._renewer.start()
                return True
            holder = self.client.get(self.key)
            if holder is not None and not _alive_here(holder):
                with self.client.pipeline() as pipe:  # take it from a dead holder only if it is still that one's
                    pipe.watch(self.key)
                    if pipe.get(self.key) == holder:
                        pipe.multi()
                        pipe.delete(self.key)
                        pipe.execute()
                continue
            self._stop.wait(POLL)
        return False

    def _renew(self) -> None:
        while not self._stop.wait(RENEW):
            try:
                if self.client.get(self.key) == self.me:
                    self.client.pexpire(self.key, TTL_MS)
            except Exception:
                pass

    def release(self, state: str | None) -> None:
        """Stop renewing; record how the run settled (``state``: None when it did not), then let the lease go."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if state is not None:
            self.client.hset(SETTLED, self.queue_id, state)
        if self.client.get(self.key) == self.me:
            self.client.delete(self.key)

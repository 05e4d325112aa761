"""gsatlc: the controller (PROTOCOL.md §1, §5), the single writer of the job store.

It owns ``PID.inbox`` and ``gsatlcPid``/``gsatlcHostName``.  The package:

* :mod:`.loop`: the :class:`Controller` daemon (settings, timers, loop
  hooks) and :func:`main`;
* :mod:`.handlers`: the verbs; requests to sputniks are asynchronous;
* :mod:`.submission` and :mod:`.copier`: QSUB, with the script copied off
  the loop;
* :mod:`.lifecycle`: scheduling, start, end, restart and recovery;
* :mod:`.liveness`: the gsatlcPid refresh and the one-controller guard;
* :mod:`.subscribers`: log, waiters, services and mail, on the job events;
* :mod:`.system`: the OS seam (processes, signals) tests replace with a fake.

Invariant: the loop never waits for anything but its own inboxes and timers.
"""

from ..jobstore import JobStore
from .liveness import AlreadyRunning, acquire_lock, check_stale
from .loop import Controller, main
from .system import System

__all__ = ["AlreadyRunning", "Controller", "JobStore", "System", "acquire_lock", "check_stale", "main"]

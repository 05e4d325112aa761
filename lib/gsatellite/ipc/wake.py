"""Sleeping without lost wake-ups, and waking other processes (PROTOCOL.md §3).

A long-lived receiver blocks SIGCONT (and the other signals it cares about)
once, at start-up, and then sleeps in ``sigtimedwait``.  A SIGCONT that
arrives while the receiver is busy stays *pending* and ends the next sleep at
once, so the classic race "box empty? -> SIGSTOP myself" cannot happen.
Classic senders, which only publish a file and send SIGCONT, still wake us.

Waking a process on another host goes through that host's signal forwarder:
we publish ``SIGCONT PID;`` (no answer wanted) in its ``sigfwd.inbox``.
"""

import os
import signal

from .. import paths
from . import mbox

WAKE = signal.SIGCONT


class Sleeper:
    """Blocks ``signals`` (plus SIGCONT) for this process and waits for them."""

    def __init__(self, signals=()):
        self.signals = {WAKE, *signals}
        self.previous = signal.pthread_sigmask(signal.SIG_BLOCK, self.signals)

    def sleep(self, timeout):
        """Wait up to ``timeout`` seconds; return the signal number or None."""
        if timeout <= 0:
            timeout = 0
        info = signal.sigtimedwait(self.signals, timeout)
        return info.si_signo if info is not None else None

    def drain(self):
        """Consume every pending signal without waiting; returns them."""
        got = []
        while True:
            info = signal.sigtimedwait(self.signals, 0)
            if info is None:
                return got
            got.append(info.si_signo)

    def release(self):
        """Restore the mask from before: a nested sleeper (a request made by
        a daemon) must not unblock the daemon's own signals."""
        signal.pthread_sigmask(signal.SIG_SETMASK, self.previous)


def signal_number(name):
    """``SIGUSR1``, ``USR1``, ``usr1`` or ``10`` -> 10; ValueError otherwise."""
    text = str(name).strip()
    if text.isdigit():
        num = int(text)
        if 0 <= num < signal.NSIG:
            return num
        raise ValueError(name)
    upper = text.upper()
    if not upper.startswith("SIG"):
        upper = "SIG" + upper
    sig = getattr(signal, upper, None)
    if isinstance(sig, signal.Signals):
        return int(sig)
    raise ValueError(name)


def signal_name(num):
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)


def send_signal(host, pid, sig=WAKE, wait_answer=False):
    """Deliver ``sig`` to ``pid`` on ``host``; returns kill's exit code.

    Locally this is ``kill``.  For another host it asks that host's signal
    forwarder; by default without waiting for its answer (a wake-up needs no
    receipt), else through :func:`request.request`.
    """
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return 1
    if pid <= 0:
        return 1
    if host == paths.hostname():
        try:
            os.kill(pid, sig)
            return 0
        except OSError:
            return 1
    command = "%s %d" % (signal_name(sig), pid)
    box = paths.sigfwd_box(host)
    if not wait_answer:
        try:
            mbox.send(box, command + ";")
            return 0
        except (mbox.BoxMissing, OSError):
            return 1
    from .request import request, RequestError

    try:
        answer = request(box, command, wake=False)
    except RequestError:
        return 1
    return int(answer) if answer.isdigit() else 1


def wake(host, pid):
    return send_signal(host, pid, WAKE)


def wake_box_owner(box):
    """Wake the process owning ``box`` if its name carries a PID."""
    host, pid = mbox.owner(box)
    if pid.isdigit():
        return wake(host, pid)
    return 1

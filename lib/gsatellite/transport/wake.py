"""Sleeping without lost wake-ups, and the signal helpers (PROTOCOL.md §3).

A long-lived receiver blocks SIGCONT (and the other signals it cares about)
once, at start-up, and then sleeps in ``sigtimedwait``.  A SIGCONT that
arrives while the receiver is busy stays *pending* and ends the next sleep at
once, so the classic race "box empty? -> SIGSTOP myself" cannot happen.
Classic senders, which only publish a file and send SIGCONT, still wake us.

This module only knows signals; waking a process on another host (through
its signal forwarder) is :func:`gsatellite.transport.base.signal_process`.
"""

import os
from ..protocol import digits

# The C module: the ``signal`` package wraps every number in an enum, and
# importing it (with ``enum``) costs a client a few milliseconds of start-up.
import _signal

WAKE = _signal.SIGCONT


class Sleeper:
    """Blocks ``signals`` (plus SIGCONT) for this process and waits for them."""

    def __init__(self, signals=()):
        self.signals = {WAKE, *signals}
        self.previous = _signal.pthread_sigmask(_signal.SIG_BLOCK, self.signals)

    def add(self, signo):
        """Wait for ``signo`` too (blocked from now on)."""
        _signal.pthread_sigmask(_signal.SIG_BLOCK, {signo})
        self.signals.add(signo)

    def sleep(self, timeout):
        """Wait up to ``timeout`` seconds; return the signal number or None."""
        if timeout <= 0:
            timeout = 0
        info = _signal.sigtimedwait(self.signals, timeout)
        return info.si_signo if info is not None else None

    def drain(self):
        """Consume every pending signal without waiting; returns them."""
        got = []
        while True:
            info = _signal.sigtimedwait(self.signals, 0)
            if info is None:
                return got
            got.append(info.si_signo)

    def release(self):
        """Restore the mask from before: a nested sleeper (a request made by
        a daemon) must not unblock the daemon's own signals."""
        _signal.pthread_sigmask(_signal.SIG_SETMASK, self.previous)


def signal_number(name):
    """``SIGUSR1``, ``USR1``, ``usr1`` or ``10`` -> 10; ValueError otherwise."""
    import signal

    text = str(name).strip()
    if digits(text):
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
    import signal

    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)


def positive_pid(pid):
    """``pid`` as an int if it names one process that may be ours, else
    None: 0 and negative numbers would reach a whole group or every
    process, 1 is init (a PID file never names it either)."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return None
    return pid if pid > 1 else None


def kill(pid, sig=WAKE):
    """Signal one local process; True if delivered."""
    pid = positive_pid(pid)
    if pid is None:
        return False
    try:
        os.kill(pid, sig)
        return True
    except OSError:
        return False

"""Is a host alive?  The per-host heartbeat (issue 17, PROTOCOL.md §10).

Hosts that share ``$HOME`` cannot signal or see each other's processes, so
each host that runs a signal forwarder or the controller keeps a heartbeat
in the shared store: ``G/var/run/HOST/heartbeat`` holds the host's boot id
(one line) and its modification time is the last beat.  The controller
beats on its ``liveness_interval`` timer (a touch of one file), the
forwarder too (a quarter as often while a controller of its host beats);
nobody polls for it: it is read only when a decision needs it (a
takeover, a job whose supervisor lives on that host).

A host whose heartbeat is older than a limit (``host_lost_after`` for its
jobs) or that has none counts as lost.  A host that comes back (with the
same name, maybe the same PIDs) beats again; the boot id tells a reboot
from a host that was only cut off.
"""

import os
import stat
import time

from . import paths, pidref
from .fsutil import makedirs, open_regular, write_atomic

# Seconds a beat may lie in the future (the clocks of NFS clients and
# server differ a little) and still count.
FUTURE = 300
_written = None  # (path, boot id) this process wrote last


def beat(host=None):
    """Tell that this host lives; never raises (a full disk must not stop
    a daemon's timer)."""
    global _written
    path = paths.heartbeat_file(host)
    boot = pidref.boot_id()
    try:
        if _written == (path, boot):
            try:
                # Touched only while it is our regular file: a FIFO or link
                # put in its place would stay, and the host count as lost.
                if stat.S_ISREG(os.lstat(path).st_mode):
                    os.utime(path)
                    return True
            except FileNotFoundError:
                pass
        makedirs(os.path.dirname(path))
        write_atomic(path, boot + "\n")
        _written = (path, boot)
        return True
    except OSError:
        return False


def last_beat(host):
    """``(boot id, epoch of the last beat)`` of ``host``, or None."""
    path = paths.heartbeat_file(host)
    try:
        # Without blocking: a FIFO planted as a heartbeat must not hang the
        # controller or a client.
        with os.fdopen(open_regular(path), "rb") as f:
            boot = f.read(100).strip().decode("ascii", "replace")
            return boot, os.fstat(f.fileno()).st_mtime
    except OSError:
        return None


def age(host, now=None):
    """Seconds since ``host`` last beat, or None when it never did.  A beat
    dated more than :data:`FUTURE` seconds ahead counts as none: a host
    beats with a touch, which takes the file server's clock, so only a hand
    (``touch -d 2099``) dates one there, and it must not keep a lost host's
    jobs running for ever."""
    found = last_beat(host)
    if found is None:
        return None
    seconds = (time.time() if now is None else now) - found[1]
    return None if seconds < -FUTURE else max(0.0, seconds)


def lost(host, after, now=None):
    """True when ``host`` has not beaten for more than ``after`` seconds
    (or never did)."""
    seconds = age(host, now)
    return seconds is None or seconds > after

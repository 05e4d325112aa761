"""Which controller serves this $HOME: a claim in the store (issue 17).

A lock (``gsatlc.lock``) keeps out a second controller of the same host,
but hosts that share ``$HOME`` over NFS cannot trust it: a lock of a host
that went down may outlive it, and some NFS set-ups have no working locks.
So a controller also *claims* the installation, with a step that is atomic
on every file system, NFS too: ``link()`` of a complete file to a name that
must not exist.

Claims are numbered: ``G/gsatlc.claim.N`` holds ``HOST PID TICKS BOOTID``
of the controller that made it, and the claim with the highest N is the
one in force.  To take over from claim N (or to start when there is none)
a controller links its record to N+1; of two controllers that try at the
same moment exactly one succeeds, and the other looks again, finds a live
claim and leaves.  Claim N may be taken over only when it is stale:

* its owner runs on this host and is gone (PID, start time and boot id,
  :mod:`gsatellite.pidref`);
* its owner runs on another host and has not touched it for more than
  ``MAX_AGE`` seconds (the liveness rule of ``gsatlcPid``): the owner
  touches its claim on its ``liveness_interval`` timer.

The winner removes the claims below its own.  A controller whose claim
is gone or has a successor (``N+1`` exists) has been taken over: it stops
serving at its next liveness tick (:meth:`Liveness.keep_alive`).  A
controller that exits cleanly removes its own claim.
"""

import os
import time

from .. import liveness, paths, pidref
from ..fsutil import makedirs, open_regular, random_chars, unlink_quiet, write_atomic
from ..log import log
from ..protocol import digits

PREFIX = "gsatlc.claim."
MAX_AGE = liveness.MAX_AGE
TRIES = 20


class Taken(Exception):
    """A live controller holds the claim in force: ``host``, ``pid``."""

    def __init__(self, host, pid):
        super().__init__("gsatlc is running on %s as PID %d" % (host, pid))
        self.host, self.pid = host, pid


def path(n):
    return os.path.join(paths.base(), "%s%d" % (PREFIX, n))


def numbers():
    """The claims there are, lowest first."""
    try:
        names = os.listdir(paths.base())
    except OSError:
        return []
    found = []
    for name in names:
        tail = name[len(PREFIX):]
        # ASCII digits only (protocol.digits).  Of any length: a claim every taker did not see (a planted
        # 999999999999999999 whose successor has 19 digits) is no decider.
        if name.startswith(PREFIX) and digits(tail):
            found.append(int(tail))
    return sorted(found)


def read(n):
    """``(host, pid, ticks, boot, mtime)`` of claim ``n``, or None."""
    try:
        # Without blocking: a FIFO planted as a claim must not hang gsatlc.
        with os.fdopen(open_regular(path(n)), "rb") as f:
            words = f.read(400).decode("utf-8", "replace").split()
            mtime = os.fstat(f.fileno()).st_mtime
    except OSError:
        return None
    if len(words) != 4 or not digits(words[1]) or not digits(words[2]):
        return None
    return words[0], int(words[1]), int(words[2]), words[3], mtime


def stale(record, here, now=None):
    """May the claim ``record`` be taken over by a controller on ``here``?"""
    if record is None:
        return True  # unreadable: not a claim any controller could hold
    host, pid, ticks, boot, mtime = record
    if host == here:
        if boot != pidref.boot_id():
            return True
        return not pidref.ProcessRef(pid, ticks).alive()
    return (time.time() if now is None else now) - mtime > MAX_AGE


class Claim:
    """The claim this controller holds: number ``n``."""

    def __init__(self, n):
        self.n = n

    def held(self):
        """Touch our claim; False once it is gone or has a successor."""
        try:
            os.utime(path(self.n))
        except FileNotFoundError:
            return False
        except OSError:
            return True  # a full or read-only disk is no takeover
        return not os.path.lexists(path(self.n + 1))

    def release(self):
        if self.held():
            unlink_quiet(path(self.n))


def take(host, pid=None):
    """Claim the installation for controller ``pid`` (this process) on
    ``host``: a :class:`Claim`, or :class:`Taken` when a live controller
    holds the claim in force."""
    pid = os.getpid() if pid is None else pid
    ticks = pidref.start_time(pid)
    record = "%s %d %d %s\n" % (host, pid, ticks or 0, pidref.boot_id() or "-")
    base = paths.base()
    makedirs(base)
    for _ in range(TRIES):
        found = numbers()
        top = found[-1] if found else 0
        if top:
            current = read(top)
            if not stale(current, host):
                raise Taken(current[0], current[1])
            if current is not None:
                log("taking over from the stale claim %d of gsatlc %d on %s" % (top, current[1], current[0]))
        tmp = os.path.join(base, ".%snew.%s" % (PREFIX, random_chars(8)))
        write_atomic(tmp, record)
        try:
            if _link(tmp, path(top + 1)):
                for n in found:
                    unlink_quiet(path(n))
                return Claim(top + 1)
        finally:
            unlink_quiet(tmp)
        # Another controller claimed top + 1 first: look again.
    found = numbers()
    current = read(found[-1]) if found else None
    raise Taken(current[0], current[1]) if current else Taken("another host", 0)


def _link(tmp, target):
    """Link ``tmp`` to ``target``; True if we made it.  On NFS a link may
    succeed although its reply was lost: the link count tells."""
    try:
        os.link(tmp, target)
        return True
    except FileExistsError:
        return False
    except OSError as e:
        try:
            if os.stat(tmp).st_nlink == 2:
                return True
        except OSError:
            pass
        # Not made, and not for a rival (that is EEXIST): a read-only or
        # full store, a name too long.  Said as it is, not as "gsatlc is
        # running on another host" after every try, and of the claim's name.
        raise OSError(e.errno, e.strerror, target) from None


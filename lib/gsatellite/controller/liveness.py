"""The controller's side of the liveness rule (PROTOCOL.md §1).

Clients take the controller for dead when ``gsatlcPid`` is older than 5
seconds, so the controller refreshes it on a timer of the daemon loop
(``liveness_interval``): timers run between any two messages, so neither a
stream of requests nor a slow handler can starve it.  It also guards
against a second controller: an exclusive lock on this host and on NFS hosts
with working locks, and the liveness rule against controllers that take no
lock (classic ones).

Beside them it writes ``gsatlcCapabilities`` (``PID HOST CAPABILITY...``),
first, so a client that sees our gsatlcPid sees it too: clients read it
before they send anything a classic controller would misread (gqsub's
options).  A classic controller never writes it, and a stale one names
another PID.
"""

import os

from .. import hosts, liveness, paths, pidref
from .. import protocol as P
from ..fsutil import read_first_line, unlink_quiet, write_atomic
from ..log import log


class AlreadyRunning(Exception):
    pass


class Liveness:
    """Mixin of the Controller: ``gsatlcPid``/``gsatlcHostName``."""

    owner = True  # False once another controller took the files over
    claim = None  # the claim.Claim this controller serves by (main sets it)
    # Whether this controller keeps this host's forwarder running: main
    # sets it once it started the forwarder (a controller built in a test
    # never starts one, so it never restarts one either).
    heals_forwarder = False

    def publish(self):
        self.announce()
        write_atomic(paths.gsatlc_host_file(), self.host + "\n")
        pidref.write_pid_file(paths.gsatlc_pid_file(), self.pid)

    def refresh(self):
        """Keep gsatlcPid young; returns False if another controller owns it."""
        pid = read_first_line(paths.gsatlc_pid_file(), "")
        host = read_first_line(paths.gsatlc_host_file(), "")
        if pid == "" and host == "":
            log("gsatlcPid/gsatlcHostName vanished; writing them again")
            self.publish()
            return True
        if pid != str(self.pid) or host != self.host:
            log("gsatlcPid now names %s on %s; another controller took over, exiting" % (pid, host))
            return False
        os.utime(paths.gsatlc_pid_file())
        if not os.path.exists(paths.gsatlc_capabilities_file()):
            self.announce()
        return True

    def announce(self):
        write_atomic(paths.gsatlc_capabilities_file(), P.capabilities_line(self.pid, self.host) + "\n")

    def capabilities(self, args, box):
        """CAPABILITIES?: for a client that cannot see gsatlcCapabilities yet
        (an NFS client's cache)."""
        return " ".join(P.CONTROLLER_CAPABILITIES)

    def keep_alive(self):
        """The liveness timer; it also beats this host's heartbeat and
        restarts this host's signal forwarder if it died."""
        if self.claim is not None and not self.claim.held():
            log("my claim %d was taken over by another controller; exiting" % self.claim.n)
            self.claim = None
            # gsatlcPid (PID and host: PIDs of hosts overlap) is ours only
            # if the new controller has not written its own yet.
            self.owner = self.owner and read_first_line(paths.gsatlc_pid_file(), "") == str(self.pid) \
                and read_first_line(paths.gsatlc_host_file(), "") == self.host
            self.stop = True
            return
        if not self.refresh():
            self.owner = False
            self.stop = True
            return
        hosts.beat()
        if not self.heals_forwarder:
            return
        try:
            self.system.heal_forwarder()
        except (RuntimeError, OSError) as e:
            log("cannot start the signal forwarder: %s" % e)

    def unpublish(self):
        if self.claim is not None:
            self.claim.release()
        if self.owner:
            pidref.remove_pid_file(paths.gsatlc_pid_file(), self.pid)
            for f in (paths.gsatlc_host_file(), paths.gsatlc_capabilities_file()):
                unlink_quiet(f)


class Lock:
    """``flock`` on ``G/gsatlc.lock`` for the controller's whole life (what
    the ``filelock`` package did, without the fork hooks it registers: they
    cost every sputnik the controller forks about a millisecond).  The
    descriptor is close-on-exec and every forked child closes it, so the
    lock never outlives the controller in a child."""

    def __init__(self, fd):
        self.fd = fd

    def release(self):
        if self.fd is not None:
            os.close(self.fd)  # releases the flock
            self.fd = None


def acquire_lock(claimed=False):
    """Lock ``gsatlc.lock``; :class:`AlreadyRunning` when another holds it.
    ``claimed``: this controller holds the claim in force (:mod:`.claim`),
    so a holder of the lock is gone; an NFS lock may outlive a host that
    went down, so the lock is passed by (None) rather than waited for."""
    import fcntl

    path = paths.gsatlc_lock_file()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        if claimed:
            log("%s is held, but its holder lost the claim; going on" % path)
            return None
        raise AlreadyRunning("another gsatlc holds %s" % path)
    except BaseException:
        os.close(fd)
        raise
    return Lock(fd)


def refuse_live(host, alive):
    """:class:`AlreadyRunning` when ``gsatlcPid`` names a live controller
    (maybe classic, maybe on another host); ``alive(pid)`` tells whether a
    PID on this host still is the process ``gsatlcPid`` was written for.
    Returns the PID of a dead controller of this host it names, or None."""
    info = liveness.controller(verify=False)
    if info is None:
        return None
    other_host, other_pid = info
    if other_host != host or alive(other_pid):
        raise AlreadyRunning("gsatlc is running on %s as PID %d" % (other_host, other_pid))
    return other_pid


def check_stale(host, alive):
    """Refuse when a live controller exists (:func:`refuse_live`), else
    remove what a dead one left."""
    dead = refuse_live(host, alive)
    if dead is not None:
        log("removing stale gsatlcPid of dead process %d" % dead)
    for f in (paths.gsatlc_pid_file(), paths.gsatlc_pid_file() + pidref.SIDECAR, paths.gsatlc_host_file(),
              paths.gsatlc_capabilities_file()):
        unlink_quiet(f)

"""Waking the signal forwarder when a message lands in its box (inotify).

The forwarder's box is written by processes on other hosts (through the
shared file system), which cannot signal it, so classically it looks into
the box every ``sigfwd_poll`` seconds, for ever (issue 18: most of an idle
installation's CPU).  On a file system of this host alone (ext4, xfs,
tmpfs, ...) no other host can write the box, and the kernel sees every
entry made in it: an inotify watch then raises SIGIO in the forwarder for
each one, and the poll is only a safety net.  On a network file system
(NFS, Lustre, GPFS, CIFS, anything not known to be local) inotify does not
see what other hosts write, so :func:`watch` declines and the forwarder
polls as before.

The caller blocks SIGIO before :func:`watch` (its default action ends the
process) and takes it with the other signals it sleeps on; :func:`drain`
empties the watch after each wake-up, so the kernel's event queue never
fills.
"""

import errno
import fcntl
import os
import signal
from ..protocol import digits

SIGNAL = signal.SIGIO
# Entries made in the directory: a sender's rename (IN_MOVED_TO), or a
# message written in place (IN_CREATE).
_EVENTS = 0x00000080 | 0x00000100
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
# File systems whose every change this host makes itself.
LOCAL = frozenset({"btrfs", "ext2", "ext3", "ext4", "f2fs", "jfs", "overlay", "ramfs",
                   "reiserfs", "tmpfs", "xfs", "zfs", "bcachefs"})


def _unescape(field):
    """mountinfo writes space, tab, newline and backslash as ``\\NNN``."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and digits(field[i + 1:i + 4]):
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def filesystem(path, mountinfo=None):
    """Type of the file system ``path`` lies on (``ext4``, ``nfs4``), from
    ``/proc/self/mountinfo`` (or the text ``mountinfo``); None if unknown."""
    path = os.path.realpath(path)
    if mountinfo is None:
        try:
            with open("/proc/self/mountinfo") as f:
                mountinfo = f.read()
        except OSError:
            return None
    best, found = -1, None
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        try:
            point = _unescape(fields[4])
            fstype = fields[fields.index("-", 6) + 1]
        except (IndexError, ValueError):
            continue
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        # The longest mount point holding the path; of equal ones the last
        # mounted, which hides the others.
        if inside and len(point) >= best:
            best, found = len(point), fstype
    return found


def watch(directory):
    """An inotify descriptor that raises :data:`SIGNAL` in this process for
    every entry made in ``directory``, or None where it cannot stand in
    for polling (not a local file system, no inotify)."""
    if filesystem(directory) not in LOCAL:
        return None
    from ..proc import _libc

    try:
        libc = _libc()
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    try:
        if libc.inotify_add_watch(fd, os.fsencode(directory), _EVENTS) < 0:
            raise OSError(errno.ENOENT, "inotify_add_watch")
        fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
    except OSError:
        os.close(fd)
        return None
    return fd


def drain(fd):
    """Read away the events waiting on ``fd``; True if there were any."""
    got = False
    while True:
        try:
            if not os.read(fd, 65536):
                return got
        except BlockingIOError:
            return got
        except OSError:
            return got
        got = True

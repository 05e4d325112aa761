"""gqwait registrations: who waits for which job, and telling them.

A waiter is ``HOST FIFOPATH``: a FIFO on HOST that a gqwait process reads.
Registrations live in the job directory (``job.waiters``, one per line), so a
controller restart loses none.  When the job has finally ended (finished or
failed; an automatic restart is not an end) or is deleted, every waiter gets
one line ``ID VALUE`` (or ``ID DELETED``) in its FIFO: written directly on
this host, through the waiter host's signal forwarder (``WRITE_FIFO``)
elsewhere, because FIFOs do not cross NFS.  A waiter's HOST becomes part of
an address, so only a valid host name is registered (``transport.valid_host``).
"""

import errno
import os
import stat

from . import paths, transport
from . import protocol as P
from .fsutil import read_text, unlink_quiet, write_atomic
from .log import log

WAITERS = "job.waiters"


def registrations(job_id):
    text = read_text(paths.job_file(job_id, WAITERS), "")
    out = []
    for line in text.splitlines():
        host, _, fifo = line.partition(" ")
        if host and fifo:
            out.append((host, fifo))
    return out


def _save(job_id, regs):
    path = paths.job_file(job_id, WAITERS)
    if regs:
        write_atomic(path, "".join("%s %s\n" % r for r in regs))
    else:
        unlink_quiet(path)


def valid_fifo_path(fifo):
    return fifo.startswith("/") and not any(c in fifo for c in " ;\n\0")


def add(job_id, host, fifo):
    """Register a waiter; ``transport.BadAddress`` for an invalid host."""
    transport.check_host(host)
    regs = registrations(job_id)
    if (host, fifo) not in regs:
        regs.append((host, fifo))
        _save(job_id, regs)


def remove(job_id, host, fifo):
    regs = registrations(job_id)
    if (host, fifo) in regs:
        _save(job_id, [r for r in regs if r != (host, fifo)])


def write_fifo(fifo, line):
    """Write one line to a FIFO without ever blocking; False if nobody reads."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno not in (errno.ENXIO, errno.ENOENT):
            log("cannot open %s: %s" % (fifo, e))
        return False
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            log("refusing to write to %s: not a FIFO" % fifo)
            return False
        os.write(fd, (line + "\n").encode())
        return True
    except OSError as e:
        log("cannot write %s: %s" % (fifo, e))
        return False
    finally:
        os.close(fd)


def notify(job_id, value, this_host, remote=None):
    """Tell every waiter of ``job_id`` that it ended with ``value`` (or
    what ``value()`` returns: asked only when somebody waits).
    ``remote(job_id, host, fifo, line)`` delivers to a waiter on another
    host (the controller's, which retries until delivered and then calls
    :func:`remove`; the registration stays until then, so a controller
    that stops hands it to the next); without it the line is handed to
    that host's forwarder once."""
    regs = registrations(job_id)
    if not regs:
        return
    if callable(value):
        value = value()
    kept = []
    for host, fifo in regs:
        line = P.fifo_line(job_id, value)
        if host == this_host:
            write_fifo(fifo, line)
            continue
        if remote is not None:
            kept.append((host, fifo))
            remote(job_id, host, fifo, line)
            continue
        try:
            transport.send(transport.sigfwd_address(host), P.write_fifo(fifo, line))
        except OSError as e:  # transport.TransportError (e.g. a bad host) included
            log("cannot reach the signal forwarder of %s for a waiter: %s" % (host, e))
    if os.path.isdir(paths.job_dir(job_id)):
        _save(job_id, [r for r in registrations(job_id) if r in kept])

"""The output of a job's runs (docs/protocol.md §6).

``job.stdout`` and ``job.stderr`` hold the current run, the last one, as
the classic runner kept them (it truncated them at each start).  A job runs
more than once when it is restarted (its job type asks for it) or held while
running and released; before each further run the output of the run before
moves to ``job.stdout.N`` and ``job.stderr.N`` beside them, N counting from
1, so no run's output is lost: ``job.stdout.1`` is the first run's.  The
rename is the only step, so a reader sees a run's output whole, under one
name or the other.

A run's end is recorded once (:func:`record_end`): ``job.exit``, then one
more line in ``job.stop``.  That line is the commit: a run has ended on
record once ``job.stop`` has as many lines as ``job.start``.
"""

import fcntl
import os

from .fsutil import append_line_to, open_append, read_bytes, write_atomic
from .protocol import digits

STREAMS = ("stdout", "stderr")


def path(job_dir, stream, run=None):
    """The file of ``stream`` of run ``run`` (None: the current run)."""
    name = "job." + stream
    return os.path.join(job_dir, name if run is None else "%s.%d" % (name, run))


def earlier(job_dir):
    """Numbers of the kept earlier runs, ascending."""
    found = set()
    try:
        names = os.listdir(job_dir)
    except OSError:
        return []
    for n in names:
        for stream in STREAMS:
            prefix = "job.%s." % stream
            if n.startswith(prefix) and digits(n[len(prefix):]) and not n[len(prefix)] == "0":
                found.add(int(n[len(prefix):]))
    return sorted(found)


def rotate(job_dir):
    """Before a run starts: move the previous run's output to the next
    number.  Returns that number, or None when there was no earlier run.
    Raises OSError (the caller then appends, which loses nothing)."""
    current = [s for s in STREAMS if os.path.lexists(path(job_dir, s))]
    if not current:
        return None
    kept = earlier(job_dir)
    number = kept[-1] + 1 if kept else 1
    for stream in current:
        os.rename(path(job_dir, stream), path(job_dir, stream, number))
    return number


def _lines(name):
    # Bytes: str.split() would also split at Unicode separators.
    return len((read_bytes(name, b"", 1 << 40)).split())


def record_end(job_dir, value, when):
    """Record that the current run ended with exit value ``value`` at
    ``when`` (epoch seconds); False when its end is on record already.

    More than one process may learn of an end (the sputnik, the controller
    reaping the job of a dead sputnik, a sputnik that adopted the job and
    reads its zombie), so the check and the record are one step under a
    lock on ``job.stop``: a run never gets two stop lines.  ``job.exit``
    comes first, so whoever sees the stop line sees the exit value too.
    Raises OSError (nothing is on record then, or the exit value only).
    """
    stop = os.path.join(job_dir, "job.stop")
    fd = open_append(stop)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # no locks here (some NFS): a second recorder is rare
        # A run whose start could not be recorded still ends once.
        if _lines(stop) >= max(_lines(os.path.join(job_dir, "job.start")), 1):
            return False
        write_atomic(os.path.join(job_dir, "job.exit"), "%d\n" % value)
        append_line_to(fd, str(int(when)), stop)
        return True
    finally:
        os.close(fd)

"""X.509 proxy certificates of jobs: which file a job uses, when it ends,
and when the controller must look at it again (FEATURES.md §8).

A job's proxy is the file its process will find in ``X509_USER_PROXY``:
the one given at submission (``gqsub --proxy FILE``, ``#GSAT --proxy FILE``,
kept in ``job.x509UserProxy``), else the one its job type sets (gtransfer,
tgftp: ``G/tmp/defaultGsiProxyCredential``), else the one of the
controller's environment, which every job process inherits (gqsub does not
pass its own environment, as in the classic tools).  Only an absolute path
counts.

A path given at submission is checked twice: its text by :func:`canonical`
(gqsub's option, a directive, the controller's QSUB), the file by
:func:`check_file` (gqsub on its host, the controller on the host where
the job runs).  What is stored is read back through :func:`requested`,
which takes nothing it would not have accepted: a ``job.x509UserProxy``
edited by hand to garbage is ignored, never used.

A proxy file is PEM: one or more certificates and a key.  The end of
validity (``notAfter``) of the first certificate is the proxy's.  The file
is opened without blocking and must be a regular file of at most
:data:`MAX_BYTES`: a FIFO, a device or a huge file put in its place cannot
stall or swamp the controller.  Anything that is not a readable
certificate is a :class:`ProxyError` (the caller treats the validity as
unknown).

``cryptography`` is imported only by :func:`not_after`, which only the
controller calls: gqsub, gqstat and trigger never load it (gqstat shows the
``job.proxyNotAfter`` the controller wrote).

The timing rule (:func:`next_look`) is pure, so unit tests drive it with a
fake clock.  Times are wall-clock epoch seconds.
"""

import os
import stat
import time

VARIABLE = "X509_USER_PROXY"
# The job file of the proxy given at submission.
REQUEST = "job.x509UserProxy"
# A proxy is a few KiB; anything larger is not one.
MAX_BYTES = 64 * 1024
BEGIN = b"-----BEGIN CERTIFICATE-----"
END = b"-----END CERTIFICATE-----"
# The shortest wait the rule asks for: a timer that fires a hair before its
# wall-clock time is re-armed for the rest, never spun on.
MIN_DELAY = 0.05


class ProxyError(Exception):
    """The file is no readable proxy; the message says why."""


def file_of(job_type, environ=None, given=None):
    """The proxy file a job of ``job_type`` uses, or None; ``given``: the
    job's ``job.x509UserProxy`` (checked here: a bad one is not used)."""
    from . import jobtypes

    if requested(given):
        return given
    value = jobtypes.get(job_type).environment().get(VARIABLE)
    if not value:
        value = (os.environ if environ is None else environ).get(VARIABLE)
    if not value or not value.startswith("/") or "\n" in value or "\0" in value:
        return None
    return value


def _path_problem(value):
    """Why ``value`` is no path a job's proxy may have, or None."""
    if not value:
        return "empty"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "control characters in it"
    if ".." in value.split("/"):
        return "'..' in it"
    if len(value.encode("utf-8", "surrogateescape")) > 4096:
        return "longer than 4096 bytes"
    return None


def canonical(value, base):
    """The absolute path a ``--proxy`` value names: ``~`` expanded, a
    relative path taken from ``base``.  :class:`ProxyError` for a path with
    control characters or a ``..`` (with symbolic links on the way, the file
    it reaches is not what its text says)."""
    problem = _path_problem(value)
    if problem is None:
        value = os.path.expanduser(value)
        value = value if value.startswith("/") else os.path.join(base, value)
        problem = _path_problem(value)
    if problem:
        raise ProxyError("invalid proxy path %r (%s)" % (value, problem))
    return os.path.normpath(value)


def requested(value):
    """True when ``value`` (a stored ``job.x509UserProxy``) is a path
    :func:`canonical` could have given."""
    return bool(value) and isinstance(value, str) and value.startswith("/") and _path_problem(value) is None


def check_file(path):
    """:class:`ProxyError` unless ``path`` is a readable regular file of at
    most :data:`MAX_BYTES` with a PEM certificate in it.  No certificate is
    parsed (gqsub does not load ``cryptography``): an ended proxy is
    accepted, its job is held until the file is renewed."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ProxyError('proxy file "%s" not existing' % path)
    except (OSError, ValueError) as e:
        raise ProxyError('proxy file "%s" cannot be read: %s' % (path, getattr(e, "strerror", None) or e))
    if stat.S_ISDIR(st.st_mode):
        raise ProxyError('proxy file "%s" is a directory' % path)
    if not stat.S_ISREG(st.st_mode):
        raise ProxyError('proxy file "%s" is not a regular file' % path)
    try:
        first_certificate(read_pem(path))
    except ProxyError as e:
        raise ProxyError('proxy file "%s": %s' % (path, e))


def stamp(path):
    """What changes when the file is renewed or replaced (cheap: one stat),
    or None when it cannot be looked at."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_pem(path, limit=MAX_BYTES):
    """The bytes of the proxy file; :class:`ProxyError` for anything else
    than a regular file of at most ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except (OSError, ValueError) as e:
        raise ProxyError(getattr(e, "strerror", None) or str(e))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ProxyError("not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise ProxyError(e.strerror or str(e))
    finally:
        os.close(fd)
    if size > limit:
        raise ProxyError("larger than %d bytes" % limit)
    return b"".join(chunks)


def first_certificate(data):
    """The first PEM certificate block of ``data``."""
    start = data.find(BEGIN)
    end = data.find(END, start + 1) if start >= 0 else -1
    if end < 0:
        raise ProxyError("no PEM certificate in it")
    return data[start:end + len(END)] + b"\n"


def not_after(path):
    """End of validity of the proxy at ``path``, in epoch seconds (int)."""
    pem = first_certificate(read_pem(path))
    try:
        # Here, not at the top: only the controller reads certificates.
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(pem)
        when = getattr(cert, "not_valid_after_utc", None)
        if when is None:  # cryptography before 42: a naive UTC datetime
            import calendar

            return calendar.timegm(cert.not_valid_after.utctimetuple())
        return int(when.timestamp())
    except ImportError:
        raise ProxyError("the cryptography package is not installed")
    except Exception as e:  # whatever a hostile certificate makes the parser raise
        raise ProxyError("not a certificate: %s" % (str(e).splitlines() or [type(e).__name__])[0])


# -- the timing rule ------------------------------------------------------------------

def warning_due(end, now, warning):
    """True when the warning for a validity ending at ``end`` is due."""
    return end is not None and now >= end - warning


def too_short(end, now, margin):
    """True when a job starting at ``now`` would have its proxy end within
    ``margin`` seconds (or already ended): it is held instead."""
    return end is not None and end - now <= margin


def next_look(end, now, warning, warned, held, recheck):
    """Seconds until the controller must read the proxy file again, or None.

    ``end``: the proxy's end of validity (None: not known); ``warned``:
    every job using it has been warned for this validity; ``held``: a job
    waits, held, for the file to be renewed.

    * Before the warning: at the warning time.  The file is read then, so a
      proxy renewed in the meantime moves the warning instead of giving it.
    * After the warning, until the end: at the end, to see a renewal (whose
      own warning is then armed) without looking in between.
    * While a job is held for it: every ``recheck`` seconds at the latest.
    * Otherwise never: nothing more can happen until the file changes, which
      a scheduling pass or a new job notices.
    """
    at = []
    if end is not None:
        if not warned and end - warning > now:
            at.append(end - warning)
        elif end > now:
            at.append(end)
    if held:
        at.append(now + recheck)
    if not at:
        return None
    return max(MIN_DELAY, min(at) - now)


# -- what services and people see -----------------------------------------------------

def iso_utc(epoch):
    """``2026-11-30T14:05:00Z``; empty for a time that cannot be shown."""
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    except (ValueError, OverflowError, OSError):
        return ""


def service_environment(path, end, now):
    """The variables a PROXY_EXPIRING service gets (seconds left may be 0 or
    negative: the proxy has ended)."""
    return {
        "GSAT_PROXY_FILE": path,
        "GSAT_PROXY_NOT_AFTER": iso_utc(end),
        "GSAT_PROXY_SECONDS_LEFT": str(int(end - now)),
    }

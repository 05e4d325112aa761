"""Every path of the state directory and the install tree, and this host's name.

Paths are joined onto the roots of :mod:`roots` (``$HOME``, ``G =
$HOME/.gsatellite``, the install tree), whose functions this module
re-exports.  The layout of ``G`` (docs/protocol.md) and of the install tree
is spelled out here; other modules only join a name onto a directory they
got from here (a file in a job directory, an entry of a message box, a
temporary file beside its target), join a user's relative path, or, for
:mod:`config`, find the configuration files under the roots.

The host name (it names the per-host directories) comes from the
``hostname`` setting of :mod:`config`, which builds only on :mod:`roots`, so
config and paths never import each other.

It deliberately imports nothing heavy: every client command goes through it.
"""

import os
import sys

from . import roots
from .roots import base, home, tree  # noqa: F401 - also paths.home() for callers

_HOST = None

# How long a cached host name stays valid before it is resolved again.
_HOST_CACHE_SECONDS = 3600
# How long we wait for a resolver before falling back to the short name.
_RESOLVE_TIMEOUT = 2.0


def reset():
    """Forget cached values (for tests that change $HOME in-process)."""
    global _HOST
    roots.reset()
    _HOST = None


def _g(*parts):
    # Every part is a name of the layout or one checked where it came from
    # (a job id, a host name): a plain join, a few times cheaper than
    # os.path.join, and one that a part starting with "/" cannot lead out
    # of G.
    return "/".join((base(),) + parts)


# --- top level files (docs/protocol.md §1) --------------------------------

def gsatlc_pid_file():
    return _g("gsatlcPid")


def gsatlc_capabilities_file():
    """What the running Python controller understands beyond the classic
    protocol (written beside gsatlcPid; classic controllers never write it)."""
    return _g("gsatlcCapabilities")


def gsatlc_host_file():
    return _g("gsatlcHostName")


def gsatlc_lock_file():
    return _g("gsatlc.lock")


def email_address_file():
    return _g("myEmailAddress")


def proxy_credential():
    return _g("tmp", "defaultGsiProxyCredential")


def log_dir():
    return _g("var", "log")


def gsatlc_log():
    return _g("var", "log", "gsatlc.log")


def gsatmail_log():
    return _g("var", "log", "gsatmail.log")


def mail_dir():
    """gsatmail's keys, registered users and journal (gsatmail(1))."""
    return _g("mail")


def host_log_dir(host=None):
    return _g("var", "log", host or hostname())


def sigfwd_log(host=None):
    return os.path.join(host_log_dir(host), "sigfwd.log")


def run_dir(host=None):
    return _g("var", "run", host or hostname())


def sigfwd_pid_file(host=None):
    return os.path.join(run_dir(host), "sigfwd.pid")


def sigfwd_lock_file(host=None):
    return os.path.join(run_dir(host), "sigfwd.lock")


def heartbeat_file(host=None):
    """A host's heartbeat: its boot id, touched while it lives (issue 17)."""
    return os.path.join(run_dir(host), "heartbeat")


def cache_dir():
    return _g("var", "cache")


def listing_cache_file(kind):
    """What long listings of ``kind`` (``table``, ``long``) read of ended
    jobs (:mod:`gsatellite.listcache`)."""
    return _g("var", "cache", "listing." + kind)


def user_services_dir(event):
    return _g("services", "on" + event)


def local_runtime_dir():
    """Where this user's host-local FIFOs go (they do not cross NFS):
    ``$XDG_RUNTIME_DIR/gsatellite`` when that runtime directory exists,
    else ``$TMPDIR/gsatellite-UID`` (``/tmp`` without TMPDIR).  Only a
    name: :func:`private_runtime_dir` checks it before anything is put there."""
    run = os.environ.get("XDG_RUNTIME_DIR")
    if run and os.path.isdir(run):
        return os.path.join(run, "gsatellite")
    return os.path.join(_tmp(), "gsatellite-%d" % os.getuid())


def _tmp():
    tmp = os.environ.get("TMPDIR", "")
    return tmp if tmp.startswith("/") else "/tmp"


def private_runtime_dir():
    """``(directory, temporary)``: a directory only this user can enter, for
    FIFOs.  Another local user may have created the usual names first (in
    ``/tmp`` anyone can), so each candidate is checked without following a
    link: a directory, ours, closed to group and others (one of ours that
    is too open is closed).  When neither :func:`local_runtime_dir` nor
    ``$TMPDIR/gsatellite-UID`` is usable, a fresh unpredictable directory
    is made with ``mkdtemp``; ``temporary`` then says the caller removes it.
    """
    uid = os.getuid()
    candidates = [local_runtime_dir(), os.path.join(_tmp(), "gsatellite-%d" % uid)]
    for d in dict.fromkeys(candidates):
        if _private(d, uid):
            return d, False
    import tempfile

    return tempfile.mkdtemp(prefix="gsatellite-%d." % uid, dir=_tmp()), True


def _private(d, uid):
    import stat

    try:
        os.mkdir(d, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:  # a symlink (ELOOP), not a directory, not ours to enter
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid:
            return False
        if st.st_mode & 0o077:
            os.fchmod(fd, 0o700)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def waiter_fifo(pid, directory=None):
    return os.path.join(directory or local_runtime_dir(), "gqwait.%d.fifo" % pid)


# --- message boxes (docs/protocol.md §2) ----------------------------------

def mboxes_root():
    """The directory of every host's message boxes; what lies below it
    (host directories, box and message names) is the transport's business."""
    return _g("mboxes")


# --- the job store (docs/protocol.md §6) ----------------------------------

def gschedule_dir():
    return _g("gschedule")


def next_job_id_file():
    return _g("gschedule", "nextJobId")


def jobs_dir():
    return _g("gschedule", "jobs")


def state_dir(state):
    return _g("gschedule", state)


def job_dir(job_id):
    return _g("gschedule", "jobs", job_id + ".d")


def job_staging_dir(job_id):
    """Where a new job is built before it is renamed into ``jobs/``."""
    return _g("gschedule", "jobs", "." + job_id + ".d.new")


def state_link(state, job_id):
    return _g("gschedule", state, job_id + ".d")


def job_file(job_id, name):
    """A file inside a job directory, e.g. ``job_file("00001", "job.exit")``."""
    return _g("gschedule", "jobs", job_id + ".d", name)


def job_tmp_dir(job_id):
    return _g("gschedule", "jobs", job_id + ".d", "jobtmp")


# --- small-file stage in / out (staging.py) ----------------------------------

def stage_spool_dir():
    """Where gqsub puts a submission's inputs (one directory each) for the
    controller to take into the new job."""
    return _g("var", "spool", "stagein")


def job_stagein_dir(job_id, staging=False):
    """The job's kept copies of its staged inputs, placed into ``jobtmp``
    at every start; ``staging``: inside the job's staging directory."""
    if staging:
        return os.path.join(job_staging_dir(job_id), "stagein")
    return _g("gschedule", "jobs", job_id + ".d", "stagein")


# --- the install tree ------------------------------------------------------

def bin_dir():
    d = os.path.join(tree(), "bin")
    if os.path.isfile(os.path.join(d, "gsatlc")):
        return d
    # pip-installed: console scripts live next to the interpreter.
    return os.path.dirname(sys.executable)


def bin_path(program):
    return os.path.join(bin_dir(), program)


_libexec = {}  # (tree, prefix) -> the directory found: asked at every job start and end


def libexec_dir():
    key = (tree(), sys.prefix)
    found = _libexec.get(key)
    if found is None:
        found = _libexec[key] = _find_libexec(*key)
    return found


def _find_libexec(top, prefix):
    for d in (
        os.path.join(top, "libexec"),
        os.path.join(prefix, "libexec", "gsatellite"),
        "/usr/libexec/gsatellite",
        "/opt/gsatellite/libexec",
    ):
        if os.path.isdir(d):
            return d
    return os.path.join(top, "libexec")


def run_services():
    return os.path.join(libexec_dir(), "run-services")


def system_services_dir(event):
    return os.path.join(libexec_dir(), "services", "on" + event)


# --- host name ---------------------------------------------------------------

def hostname():
    """This host's name as ``hostname --fqdn`` would print it.

    Order: ``$GSAT_HOSTNAME``, the ``hostname`` setting, a per-host cache in
    ``G/var/cache``, a resolver call bounded by a timeout, the short name.
    The cache is keyed by the kernel's node name, so hosts sharing one NFS
    ``$HOME`` never read each other's entry, and a hanging resolver costs at
    most one bounded wait per hour instead of one per command.
    """
    global _HOST
    if _HOST is not None:
        return _HOST
    name = os.environ.get("GSAT_HOSTNAME")
    if not name:
        from . import config

        name = config.get("hostname")
    if not name:
        name = _cached_fqdn()
    _HOST = name
    return name


def _cached_fqdn():
    node = os.uname().nodename
    cache = os.path.join(cache_dir(), "fqdn." + node)
    try:
        st = os.stat(cache)
        import time

        if time.time() - st.st_mtime < _HOST_CACHE_SECONDS:
            from .fsutil import read_text  # never blocks (a FIFO reads as nothing)

            name = (read_text(cache) or "").strip()
            if name:
                return name
    except OSError:
        pass
    name = _resolve_fqdn(node)
    try:
        from .fsutil import write_atomic

        os.makedirs(cache_dir(), mode=0o700, exist_ok=True)
        write_atomic(cache, name + "\n")
    except OSError:
        pass
    return name


def _resolve_fqdn(node):
    import socket
    import threading

    result = []

    def resolve():
        try:
            info = socket.getaddrinfo(node, None, 0, 0, 0, socket.AI_CANONNAME)
            if info and info[0][3]:
                result.append(info[0][3])
        except (OSError, UnicodeError):
            pass

    t = threading.Thread(target=resolve, daemon=True)
    # The thread starts with every signal blocked: one that outlives the
    # join (a hanging resolver) must not take a daemon's SIGCONT, which
    # the daemon blocks only later and waits for with sigtimedwait.
    import _signal

    every = _signal.valid_signals()
    before = _signal.pthread_sigmask(_signal.SIG_BLOCK, every)
    try:
        t.start()
    finally:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, before)
    t.join(_RESOLVE_TIMEOUT)
    return result[0] if result else node

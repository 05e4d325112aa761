"""Small-file stage in and out (FEATURES.md §7, docs/staging.md).

Stage in (``gqsub -i FILE[:NAME]``, ``#GSAT -i``).  gqsub reads the inputs,
never the controller: the controller may run on another host that shares
``$HOME`` only, and a file may be readable by the submitting process alone.
gqsub checks every input (a regular readable file within ``stage_limit``,
all of them within ``stage_job_limit``, a plain NAME), copies them into a
spool directory of its own, ``G/var/spool/stagein/TOKEN`` (built under a
hidden name and renamed when complete, so nothing half-copied is ever seen)
and names TOKEN in its request (``-i=TOKEN``).  The controller renames the
spool directory into the new job as ``stagein/`` and checks it there (where
nobody else writes) before the job is published: a job never exists without
its inputs.  The job keeps these copies; the sputnik copies them into the
working directory (``jobtmp``) at every start, so a restarted job (a
gtransfer temp-fail, gqhold/gqrls) finds its inputs as they were submitted.

Stage out (``-O FILE[:DEST]``).  The requests are ``job.stageOut``, one
``FILE<TAB>DEST`` line each, FILE relative to the working directory and
DEST absolute.  When the job has ended for good (not held, not to be run
again) the sputnik copies each FILE before it reports the end, so a gqwait
that returns finds the copies in place.  A FILE is opened below the working
directory one component at a time without following a symbolic link (the
working directory itself included), and a file with more than one hard
link is refused, so a job cannot have a link to, say, ``~/.ssh/id_rsa``
copied out.  No DEST lies in ``~/.gsatellite`` (:func:`check_dest`).  A copy goes
to a temporary file in DEST's directory and is then linked to its name
without replacing anything: an existing DEST is kept, and the copy becomes
``DEST.1`` (``DEST.2``, ... up to :data:`MAX_SUFFIX`).  What was copied
where is ``job.stagedOut`` (its presence also means stage-out is done);
what was not, and why, ``job.stageOutError`` and the job's stderr; that file
stays in the working directory.  The controller then emits STAGE_OUT_FAILED.
"""

import errno
import os
import stat

from . import config, paths
from .fsutil import open_regular, random_chars, read_text, unlink_quiet, write_all, write_atomic

IN, OUT = "-i", "-O"
OPTIONS = (IN, OUT)
# Job files.
INPUTS = "job.stageIn"  # the staged input NAMEs, one a line
REQUESTS = "job.stageOut"  # FILE<TAB>DEST, one a line
DONE = "job.stagedOut"  # "FILE -> COPY" lines; present once stage-out is done
ERRORS = "job.stageOutError"  # one line per file not staged out
CHUNK = 1 << 16
# An existing DEST is never replaced: the copy becomes DEST.1 ... DEST.999.
MAX_SUFFIX = 999
# A spool directory this old was left by a gqsub that died; any submission
# is long answered by then.
STALE_SPOOL = 3600
_TOKEN_CHARS = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.")
# Errors of os.link() that mean "no hard links here", not "cannot write".
_NO_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS)


class StageError(Exception):
    """A stage-in or stage-out that cannot be done; the message is one line."""


def _controls(text):
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _bytes(text):
    return len(text.encode("utf-8", "surrogateescape"))


# -- the values of -i and -O ------------------------------------------------------------

def check_name(name):
    """NAME of ``-i FILE:NAME``: one file name in the working directory."""
    if not name or name in (".", "..") or "/" in name or _controls(name) or _bytes(name) > 255:
        raise StageError("invalid stage-in name %r (one file name: not empty, '.' or '..', no '/' "
                         "or control characters, at most 255 bytes)" % name)
    return name


def parse_in(value, base):
    """``FILE[:NAME]`` -> ``(absolute FILE, NAME)``.  The last ``:`` starts
    NAME (a FILE with ``:`` in it is given with its NAME); relative FILEs
    are taken from ``base``.  NAME defaults to FILE's base name."""
    source, sep, name = value.rpartition(":")
    if not sep:
        source, name = value, None
    if not source or _controls(source) or ";" in source:
        raise StageError("invalid stage-in file %r" % source)
    source = os.path.normpath(os.path.join(base, os.path.expanduser(source)))
    return source, check_name(os.path.basename(source) if name is None else name)


def check_file(path):
    """FILE of ``-O FILE[:DEST]``: a relative path that stays inside the
    working directory (no ``..``, not absolute), returned normalised."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if (not parts or path.startswith("/") or ".." in parts or _controls(path) or ";" in path
            or _bytes(path) > 4096):
        raise StageError("invalid stage-out file %r (a path inside the job's working directory: "
                         "relative, no '..', no control characters)" % path)
    return "/".join(parts)


def parse_out(value, base):
    """``FILE[:DEST]`` -> ``(FILE, absolute DEST or None)``.  The first
    ``:`` starts DEST (a FILE may not contain one); a relative DEST is taken
    from ``base``; without DEST the copy goes to the directory gqsub ran in
    (:func:`requests`)."""
    name, sep, dest = value.partition(":")
    name = check_file(name)
    if not sep:
        return name, None
    if not dest or _controls(dest) or ";" in dest:
        raise StageError("invalid stage-out destination %r" % dest)
    dest = os.path.expanduser(dest)
    keep_slash = dest.endswith("/")
    dest = os.path.normpath(os.path.join(base, dest))
    check_dest(dest, dest)
    return name, dest + "/" if keep_slash and dest != "/" else dest


def check_dest(where, dest):
    """:class:`StageError` when ``where`` (a DEST, or the real path of its
    directory) is in ``~/.gsatellite``: a job's results must not add files
    to the store, the PID files or the message boxes."""
    store = os.path.normpath(paths.base())
    for top in {store, os.path.realpath(store)}:
        if where == top or where.startswith(top + "/"):
            raise StageError("stage-out destination %r is inside %s, which belongs to gsatellite" % (dest, store))


def canonical(option, value, base):
    """The stored form of one ``-i``/``-O`` value; :class:`StageError`."""
    if option == IN:
        return "%s:%s" % parse_in(value, base)
    name, dest = parse_out(value, base)
    return name if dest is None else "%s:%s" % (name, dest)


def requests(values, cwd):
    """``[(FILE, DEST), ...]`` of canonical ``-O`` values, DEST defaulting
    to ``cwd`` and FILE's base name."""
    out = []
    for value in values:
        name, dest = parse_out(value, cwd)
        dest = dest or os.path.join(cwd, os.path.basename(name))
        check_dest(dest, dest)
        out.append((name, dest))
    return out


def encode_requests(pairs):
    return "\n".join("%s\t%s" % pair for pair in pairs)


def decode_requests(text):
    """``job.stageOut`` (or the request's values) back to pairs; lines that
    do not hold a valid request are left out."""
    out = []
    for line in (text or "").split("\n"):
        name, sep, dest = line.partition("\t")
        if not sep or not dest.startswith("/") or "\n" in dest:
            continue
        try:
            out.append((check_file(name), dest))
        except StageError:
            continue
    return out


def limits():
    """``(stage_limit, stage_job_limit)``; the defaults when the
    configuration went bad after the controller checked it (a job's end is
    no place to stop at)."""
    try:
        return config.get_int("stage_limit"), config.get_int("stage_job_limit")
    except config.ConfigError:
        return int(config.DEFAULTS["stage_limit"]), int(config.DEFAULTS["stage_job_limit"])


# -- stage in: gqsub ---------------------------------------------------------------------

def check_inputs(entries, job_name, limit, job_limit):
    """Check ``[(source, NAME), ...]`` before anything is written: returns
    them; :class:`StageError` with the first problem."""
    names, total = set(), 0
    for source, name in entries:
        check_name(name)
        if name == job_name:
            raise StageError('stage-in name "%s" is the job script\'s own name in the working directory' % name)
        if name in names:
            raise StageError('stage-in name "%s" given twice' % name)
        names.add(name)
        try:
            st = os.stat(source)
        except FileNotFoundError:
            raise StageError('stage-in file "%s" not existing' % source)
        except OSError as e:
            raise StageError('stage-in file "%s" cannot be read: %s' % (source, e.strerror or e))
        if stat.S_ISDIR(st.st_mode):
            raise StageError('stage-in file "%s" is a directory' % source)
        if not stat.S_ISREG(st.st_mode):
            raise StageError('stage-in file "%s" is not a regular file' % source)
        if not os.access(source, os.R_OK):
            raise StageError('stage-in file "%s" is not readable' % source)
        if st.st_size > limit:
            raise StageError('stage-in file "%s" is %d bytes, more than stage_limit (%d)' % (source, st.st_size, limit))
        total += st.st_size
        if total > job_limit:
            raise StageError("stage-in files are more than stage_job_limit (%d bytes) together" % job_limit)
    return entries


def _copy_limited(fin, fd, limit, what):
    """Copy ``fin`` to descriptor ``fd``; StageError past ``limit`` bytes
    (the file grew since it was looked at).  Returns the size."""
    copied = 0
    while True:
        chunk = fin.read(CHUNK)
        if not chunk:
            return copied
        copied += len(chunk)
        if copied > limit:
            raise StageError("%s grew beyond %d bytes while it was copied" % (what, limit))
        write_all(fd, chunk)


def upload(entries, limit, job_limit):
    """Copy checked inputs into a new spool directory; returns its TOKEN
    for the QSUB request.  Nothing is left behind on failure."""
    import shutil

    spool = paths.stage_spool_dir()
    token = "%d.%s" % (os.getpid(), random_chars(16))
    part = os.path.join(spool, ".%s.part" % token)
    try:
        os.makedirs(spool, mode=0o700, exist_ok=True)
        os.mkdir(part, 0o700)
        room = job_limit
        for source, name in entries:
            fd = os.open(os.path.join(part, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(open_regular(source), "rb") as fin:
                    room -= _copy_limited(fin, fd, min(limit, room), 'stage-in file "%s"' % source)
            finally:
                os.close(fd)
        os.rename(part, os.path.join(spool, token))
    except OSError as e:
        shutil.rmtree(part, ignore_errors=True)
        raise StageError("cannot stage in: %s" % (e if not e.strerror else "%s: %s" % (e.filename, e.strerror)))
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    return token


def discard(token):
    """Remove an upload the controller did not take (it is gone if it did)."""
    import shutil

    if valid_token(token):
        shutil.rmtree(os.path.join(paths.stage_spool_dir(), token), ignore_errors=True)


def valid_token(token):
    return bool(token) and not token.startswith(".") and len(token) <= 64 and set(token) <= _TOKEN_CHARS


# -- stage in: the controller ------------------------------------------------------------

def receive(token, job_id, job_name, limit, job_limit):
    """Take the upload ``token`` into the staging directory of ``job_id``
    and check it there; returns the input names.  :class:`StageError` for
    a missing upload or one gqsub would not have made (the caller discards
    the staging directory)."""
    if not valid_token(token):
        raise StageError("invalid stage-in token %r" % token)
    kept = paths.job_stagein_dir(job_id, staging=True)
    spool = _own_spool()
    if spool is None:
        raise StageError("stage-in %s not taken: %s is not a directory of gsatellite's own"
                         % (token, paths.stage_spool_dir()))
    try:
        os.rename(os.path.join(spool, token), kept)
        if not stat.S_ISDIR(os.lstat(kept).st_mode):
            raise StageError("stage-in %s is not a directory" % token)
        names = sorted(os.listdir(kept))
    except OSError as e:
        raise StageError("stage-in %s not taken: %s" % (token, e.strerror or e))
    total = 0
    for name in names:
        check_name(name)
        if name == job_name:
            raise StageError("stage-in name %r is the job script's name" % name)
        st = os.lstat(os.path.join(kept, name))
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            raise StageError("stage-in %r is not a regular file within stage_limit" % name)
        total += st.st_size
    if total > job_limit:
        raise StageError("stage-in files are more than stage_job_limit together")
    return names


def _own_spool():
    """The spool directory, or None when it is missing or not a directory
    of its own: through a link put in its place (to ~, say) a token would
    move, and a refusal then remove, any directory of the user's, and the
    cleaning remove whatever is older than an hour there."""
    spool = paths.stage_spool_dir()
    try:
        return spool if stat.S_ISDIR(os.lstat(spool).st_mode) else None
    except OSError:
        return None


def clean_spool(now):
    """Remove uploads of gqsubs that died before submitting (older than
    :data:`STALE_SPOOL`); returns how many."""
    import shutil

    spool = _own_spool()
    if spool is None:
        return 0
    try:
        entries = os.listdir(spool)
    except OSError:
        return 0
    removed = 0
    for name in entries:
        path = os.path.join(spool, name)
        try:
            if now - os.lstat(path).st_mtime < STALE_SPOOL:
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed


# -- every start: the sputnik ------------------------------------------------------------------

def prepare_run(job_id):
    """Before a run: forget the last run's stage-out results and copy the
    kept inputs into the working directory (replacing what an earlier run
    left under their names).  OSError when an input cannot be placed."""
    from .fsutil import copy_atomic

    for name in (DONE, ERRORS):
        unlink_quiet(paths.job_file(job_id, name))
    kept = paths.job_stagein_dir(job_id)
    try:
        names = sorted(os.listdir(kept))
    except FileNotFoundError:
        return []
    workdir = paths.job_tmp_dir(job_id)
    if names and not stat.S_ISDIR(os.lstat(workdir).st_mode):
        # An earlier run replaced it with a link: the copies would land
        # wherever it points (~/.ssh/authorized_keys, for an input of that name).
        raise OSError(errno.ENOTDIR, "the working directory is no longer a directory of the job's own", workdir)
    for name in names:
        copy_atomic(os.path.join(kept, name), os.path.join(workdir, name))
    return names


# -- the end: stage out -------------------------------------------------------------------------

def _open_inside(workdir, name):
    """A read descriptor of the regular file ``name`` below ``workdir``,
    opened component by component without following a symbolic link."""
    parts = name.split("/")
    try:
        # Not followed either: the job may have replaced its working
        # directory with a link to, say, ~/.ssh.
        dfd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            raise StageError("the working directory %s is no longer a directory of the job's own" % workdir)
        raise
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            try:
                fd = os.open(part, flags, dir_fd=dfd)
            except FileNotFoundError:
                raise StageError("missing")
            except OSError as e:
                where = "/".join(parts[:i + 1])
                if e.errno == errno.ELOOP or (e.errno == errno.ENOTDIR and _is_link(dfd, part)):
                    raise StageError("%s is a symbolic link, which is not followed" % where)
                if e.errno == errno.ENOTDIR:
                    raise StageError("%s is not a directory" % where)
                raise
            os.close(dfd)
            dfd = fd
        st = os.fstat(dfd)
        if not stat.S_ISREG(st.st_mode):
            raise StageError("not a regular file")
        if st.st_nlink > 1:
            # A hard link made by the job reaches a file outside the working
            # directory as surely as a symbolic one (ln ~/.ssh/id_rsa result).
            raise StageError("%s has %d hard links; only a file with one is copied" % (name, st.st_nlink))
        fd, dfd = dfd, -1
        return fd
    finally:
        if dfd >= 0:
            os.close(dfd)


def _is_link(dfd, name):
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dfd).st_mode)
    except OSError:
        return False


def _publish(tmp, target):
    """Give ``tmp`` the name ``target``, or ``target.N`` for the smallest N
    that is free; nothing existing is replaced.  Returns the name."""
    for n in range(MAX_SUFFIX + 1):
        name = target if n == 0 else "%s.%d" % (target, n)
        try:
            os.link(tmp, name)
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno not in _NO_LINKS:
                raise
            # No hard links on this file system: rename after a look (a
            # writer racing us between the two could lose its file).
            if os.path.lexists(name):
                continue
            os.rename(tmp, name)
            return name
        unlink_quiet(tmp)
        return name
    raise StageError("%s and %s.1 to %s.%d exist already" % (target, target, target, MAX_SUFFIX))


def copy_out(workdir, name, dest, limit, room):
    """Copy ``name`` of ``workdir`` to ``dest``; returns ``(copy, size)``."""
    fd = _open_inside(workdir, name)
    with os.fdopen(fd, "rb") as fin:
        size = os.fstat(fin.fileno()).st_size
        if size > limit:
            raise StageError("%d bytes, more than stage_limit (%d)" % (size, limit))
        if size > room:
            raise StageError("%d bytes, more than is left of stage_job_limit (%d)" % (size, room))
        target = dest
        if dest.endswith("/") or os.path.isdir(dest):
            target = os.path.join(dest, os.path.basename(name))
        d, base = os.path.split(target)
        # Its real directory: a link on the way may lead into the store.
        check_dest(os.path.realpath(d or "/"), dest)
        tmp = os.path.join(d, ".%s.%s" % (base, random_chars(8)))
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            try:
                size = _copy_limited(fin, out, min(limit, room), "the file")
            finally:
                os.close(out)  # reports a full disk on NFS: part of the copy
            return _publish(tmp, target), size
        finally:
            unlink_quiet(tmp)


def failure_line(name, dest, why, workdir):
    return "stage-out of %s to %s failed: %s; the file stays in %s" % (name, dest, why, workdir)


def stage_out(job_id, limit=None, job_limit=None):
    """Copy the job's stage-out files; returns the failure lines.  Done
    once per run: with ``job.stagedOut`` present only the recorded failures
    are returned."""
    if os.path.lexists(paths.job_file(job_id, DONE)):
        return failures(job_id)
    pairs = decode_requests(read_text(paths.job_file(job_id, REQUESTS), ""))
    if not pairs:
        return []
    if limit is None:
        limit, job_limit = limits()
    workdir = paths.job_tmp_dir(job_id)
    copied, failed, room = [], [], job_limit
    for name, dest in pairs:
        try:
            copy, size = copy_out(workdir, name, dest, limit, room)
        except StageError as e:
            failed.append(failure_line(name, dest, e, workdir))
            continue
        except OSError as e:
            why = e.strerror or str(e)
            if e.filename and os.path.isabs(e.filename):
                # The temporary file's name means nothing to the user: its directory does.
                why = "%s: %s" % (os.path.dirname(e.filename), why)
            failed.append(failure_line(name, dest, why, workdir))
            continue
        room -= size
        copied.append("%s -> %s" % (name, copy))
    if failed:
        write_atomic(paths.job_file(job_id, ERRORS), "\n".join(failed) + "\n")
    write_atomic(paths.job_file(job_id, DONE), "".join(line + "\n" for line in copied))
    return failed


def failures(job_id):
    return [line for line in (read_text(paths.job_file(job_id, ERRORS), "") or "").split("\n") if line]


def service_env(job_id, lines):
    """What STAGE_OUT_FAILED services get besides the job's environment:
    the files not staged out (one a line), the reasons, the directory
    they stay in."""
    pairs = decode_requests(read_text(paths.job_file(job_id, REQUESTS), ""))
    workdir = paths.job_tmp_dir(job_id)
    files = [name for name, dest in pairs
             if any(line.startswith("stage-out of %s to %s failed: " % (name, dest)) for line in lines)]
    return {"GSAT_STAGE_OUT_FAILED": "\n".join(files), "GSAT_REASON": "\n".join(lines),
            "GSAT_STAGE_OUT_DIR": workdir}

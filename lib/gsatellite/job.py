"""A typed, read-only view of one job in the store: the clients' only reader
of job files (PROTOCOL.md §4).

The controller (through :mod:`jobstore`) writes a job; everything a client
shows or decides about a job is read here.  Invariants:

* A :class:`Job` never writes.  It reads a file the first time an attribute
  needs it and keeps the text, so a listing of 10,000 jobs reads only the
  files its columns need, each once.  :meth:`Job.reload` forgets what was
  read, for callers that watch a job change (gqpeek ``-f``).
* A missing or unreadable file reads as absent (None), never as an error:
  the controller may be moving the job while we look.  What is not a
  readable regular file (a directory named ``job.state``, a FIFO, a file
  we may not read) is remembered as damage: :meth:`Job.damage` says what is
  wrong, so a listing reports that job and skips it instead of stopping.
  (The file type is checked only when a read looks unlike a job file's:
  an error, nothing, or a whole buffer.  A FIFO whose writer has written
  a few bytes reads as a file, harmlessly.)  Nothing here ever blocks
  (files are opened ``O_NONBLOCK``) or reads a job's output whole
  (:meth:`Job.output_chunks` streams it, from the end for the last N
  lines).
* Text is decoded as UTF-8 with ``surrogateescape``, so any byte a classic
  tool wrote survives a round trip to the terminal.
"""

import errno
import os
import stat

from . import paths, states
from .protocol import digits

_CHUNK = 65536
# Bytes per read when streaming output or looking for its last lines.
OUTPUT_CHUNK = 1 << 20
# Errors that mean "not there (yet, or any more)", not damage.
_ABSENT = (errno.ENOENT, errno.ENOTDIR)
_FLAGS = os.O_RDONLY | os.O_NONBLOCK


class Event:
    """One line of ``job.events``: ``EPOCH NAME [ARGS]``."""

    __slots__ = ("epoch", "name", "args")

    def __init__(self, epoch, name, args=""):
        self.epoch, self.name, self.args = epoch, name, args

    def __eq__(self, other):
        return isinstance(other, Event) and (self.epoch, self.name, self.args) == (other.epoch, other.name, other.args)

    def __repr__(self):
        return "Event(%r, %r, %r)" % (self.epoch, self.name, self.args)


def _read(path, dir_fd=None, stats=None):
    """``(text, None)``, ``(None, None)`` when missing, ``(None, problem)``
    when something is there that cannot be read as a file.  A relative
    ``path`` is taken from the directory open as ``dir_fd``.  With a list
    ``stats``, the ``stat`` of what was opened, taken before it is read, is
    appended to it (None when nothing could be opened): the listing
    cache's key (:mod:`gsatellite.listcache`)."""
    # os.read instead of open(): a listing reads tens of thousands of tiny
    # files, and the buffered file object costs more than the read.
    # O_NONBLOCK: a FIFO planted in a job directory must not hang a client.
    try:
        fd = os.open(path, _FLAGS, dir_fd=dir_fd)
    except OSError as e:
        if stats is not None:
            stats.append(None)
        return None, (None if e.errno in _ABSENT else e.strerror)
    try:
        st = None
        if stats is not None:
            st = os.fstat(fd)
            stats.append(st)
        try:
            data = os.read(fd, _CHUNK)
        except OSError as e:
            data, error = None, e
        # A job file is one read of a few bytes.  What is not (an error, an
        # empty or a long read) is looked at: a directory, a FIFO, a device
        # is damage.  (So is not a FIFO whose writer has already written:
        # it reads as a file, without blocking.)
        if not data or len(data) == _CHUNK:
            mode = (st or os.fstat(fd)).st_mode
            if not stat.S_ISREG(mode):
                return None, "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            if data is None:
                return None, error.strerror
            chunks = [data]
            # A short read of a regular file is its end.
            while len(chunks[-1]) == _CHUNK:
                chunks.append(os.read(fd, _CHUNK))
            data = b"".join(chunks)
    except OSError as e:
        return None, e.strerror
    finally:
        os.close(fd)
    return data.decode("utf-8", "surrogateescape"), None


def _number(text):
    text = (text or "").strip()
    return int(text) if digits(text) else None


def _numbers(text):
    return [int(v) for v in (text or "").split() if digits(v)]


class Job:
    """What the store says about job ``id`` (a canonical id, e.g. ``00007``)."""

    __slots__ = ("id", "dir", "_raw", "_damage", "_at")

    def __init__(self, job_id, jobs_dir=None, jobs_fd=None):
        self.id = job_id
        # A listing passes the jobs directory: paths.job_dir() per job would
        # cost more than the job's reads.
        self.dir = paths.job_dir(job_id) if jobs_dir is None else "%s/%s.d" % (jobs_dir, job_id)
        # ... and the directory open: each read then walks two names, not
        # the whole path (a listing of 10,000 jobs: a tenth of its time).
        self._at = None if jobs_fd is None else (jobs_fd, job_id + ".d/")
        self._raw = {}
        self._damage = {}

    def __repr__(self):
        return "Job(%r)" % self.id

    @classmethod
    def seeded(cls, job_id, jobs_dir, jobs_fd, read):
        """A view of a listed job whose files ``read`` (``{attr: (text,
        problem)}``, as :func:`_read` gives them) were read already."""
        view = cls(job_id, jobs_dir, jobs_fd)
        for attr, (value, problem) in read.items():
            view._raw[attr] = value
            if problem is not None:
                view._damage[attr] = problem
        return view

    @classmethod
    def holding(cls, job_id, jobs_dir, jobs_fd, texts):
        """A view of a listed job whose files' texts (``{attr: text or
        None}``) are known already, none of them damaged (the listing cache)."""
        view = cls(job_id, jobs_dir, jobs_fd)
        view._raw = texts
        return view

    def read_so_far(self):
        """``{file: text or None}`` of every job file this view has read."""
        return dict(self._raw)

    def reload(self):
        self._raw = {}
        self._damage = {}
        return self

    # -- raw access ---------------------------------------------------------------
    def raw(self, attr):
        """The whole text of job file ``attr``, or None when it is missing."""
        cache = self._raw
        if attr in cache:
            return cache[attr]
        if self._at is None:
            value, problem = _read(self.dir + "/" + attr)
        else:
            value, problem = _read(self._at[1] + attr, self._at[0])
        if problem is not None:
            self._damage[attr] = problem
        cache[attr] = value
        return value

    def damage(self):
        """What makes this job unusable, as ``"FILE: problem"``, or None.

        Checks ``job.state`` (readable, a state word) and whatever else was
        read so far: call it after rendering, so every file shown counts.
        """
        text = self.raw("job.state")
        if self._damage:
            attr = sorted(self._damage)[0]
            return "%s: %s" % (attr, self._damage[attr])
        word = (text or "").strip()
        if text is not None and word and not states.is_state(word):
            return "job.state: not a state (%r)" % word[:40]
        if text is None and not os.path.lexists(self.dir):
            return "no job directory"
        return None

    def text(self, attr):
        """Job file ``attr`` without its trailing newlines; None when missing."""
        value = self.raw(attr)
        return None if value is None else value.rstrip("\n")

    def _value(self, attr):
        """Like :meth:`text`, but an empty file reads as None too."""
        return self.text(attr) or None

    # -- typed attributes -----------------------------------------------------------
    def exists(self):
        return os.path.isdir(self.dir)

    @property
    def name(self):
        return self._value("job.name")

    @property
    def state(self):
        """The state word of ``job.state`` (None when missing or not a state)."""
        word = (self.text("job.state") or "").strip()
        return word if states.is_state(word) else None

    @property
    def type(self):
        return self._value("job.type")

    @property
    def exec_host(self):
        return self._value("job.execHost")

    @property
    def pid(self):
        return _number(self.text("job.pid"))

    @property
    def sputnik_pid(self):
        return _number(self.text("sputnik.pid"))

    @property
    def exit(self):
        return _number(self.text("job.exit"))

    @property
    def restarts(self):
        return _number(self.text("job.restarts"))

    @property
    def reason(self):
        return self._value("job.reason")

    @property
    def depend(self):
        return self._value("job.depend")

    @property
    def mail_points(self):
        return self._value("job.mailPoints")

    @property
    def mail_to(self):
        return self._value("job.mailTo")

    @property
    def stdout_path(self):
        return self._value("job.stdoutPath")

    @property
    def stderr_path(self):
        return self._value("job.stderrPath")

    @property
    def output_error(self):
        return self._value("job.outputError")

    @property
    def submit_box(self):
        """The answer box the job was submitted with (new tools only)."""
        return (self.text("job.submitBox") or "").split("\n", 1)[0] or None

    @property
    def submitted(self):
        """Epoch of the submission, None for a job submitted by a classic tool."""
        return _number(self.text("job.submitted"))

    @property
    def start_after(self):
        return _number(self.text("job.startAfter"))

    @property
    def proxy_not_after(self):
        """End of validity of the job's proxy as the controller last read it
        (epoch), None when it has none or it is not known."""
        return _number(self.text("job.proxyNotAfter"))

    @property
    def proxy_request(self):
        """The proxy given at submission (``job.x509UserProxy``, gqsub
        --proxy), or None: also for a value that is no absolute path a
        submission could have stored (edited by hand), which is never used."""
        from . import proxy

        value = self.text(proxy.REQUEST)
        return value if proxy.requested(value) else None

    @property
    def starts(self):
        """Epochs of every start (a restarted job has several)."""
        return _numbers(self.text("job.start"))

    @property
    def stops(self):
        return _numbers(self.text("job.stop"))

    @property
    def events(self):
        out = []
        for line in (self.text("job.events") or "").splitlines():
            words = line.split(" ", 2)
            if len(words) >= 2 and digits(words[0]):
                out.append(Event(int(words[0]), words[1], words[2] if len(words) > 2 else ""))
        return out

    @property
    def job_file(self):
        """Path of the job's copy (the target of ``jobs/ID.d/ID``), or None."""
        try:
            if self._at is None:
                return os.readlink(self.dir + "/" + self.id)
            return os.readlink(self._at[1] + self.id, dir_fd=self._at[0])
        except OSError:
            return None

    # -- derived ---------------------------------------------------------------------
    def ended(self):
        return self.state in states.ENDED

    def ended_at(self):
        """Epoch of the job's end: its last ``job.stop``, else when its state
        was last written (a job that failed before it started)."""
        stops = self.stops
        if stops:
            return stops[-1]
        try:
            return os.stat(self.dir + "/job.state").st_mtime
        except OSError:
            return 0

    def exit_value(self):
        """Exit value of an ended job (1 when unrecorded); None while not ended."""
        if not self.ended():
            return None
        value = self.exit
        return 1 if value is None else value

    def output_path(self, stream, run=None):
        """Path of the job's ``stdout`` or ``stderr`` while it is in the store:
        of the current run, or of the earlier run ``run``."""
        from . import runs

        return runs.path(self.dir, stream, run)

    def output_id(self, stream, run=None):
        """``(device, inode)`` of that output file, None while there is none:
        a new run's file replaces the one a follower read."""
        try:
            st = os.stat(self.output_path(stream, run))
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def read_output(self, stream, offset=0, limit=None, run=None):
        """Bytes of the job's ``stdout``/``stderr`` from ``offset`` on (at
        most ``limit``); b"" while the file does not exist.  OSError when it
        cannot be read (a directory or a FIFO in its place, no permission)."""
        fd = self._open_output(stream, run)
        if fd is None:
            return b""
        with os.fdopen(fd, "rb") as f:
            if offset:
                f.seek(offset)
            return f.read() if limit is None else f.read(limit)

    def output_size(self, stream, run=None):
        fd = self._open_output(stream, run)
        if fd is None:
            return 0
        try:
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    def output_chunks(self, stream, lines=None, end=None, run=None):
        """The job's output up to byte ``end`` (its size now when None), in
        chunks, or only its last ``lines`` lines.  The start of the last
        lines is found by reading backwards from the end block by block, so
        a huge output costs one block of memory and the reads of its tail."""
        fd = self._open_output(stream, run)
        if fd is None:
            return
        with os.fdopen(fd, "rb") as f:
            size = os.fstat(f.fileno()).st_size if end is None else end
            start = 0 if lines is None else _tail_start(f, size, lines)
            f.seek(start)
            left = size - start
            while left > 0:
                data = f.read(min(OUTPUT_CHUNK, left))
                if not data:
                    break
                left -= len(data)
                yield data

    def _open_output(self, stream, run=None):
        from .fsutil import open_regular

        path = self.output_path(stream, run)
        try:
            return open_regular(path)
        except OSError as e:
            if e.errno in _ABSENT:
                return None
            raise OSError(e.errno, e.strerror, path) from None


def _tail_start(f, size, lines):
    """Offset where the last ``lines`` lines of the first ``size`` bytes of
    ``f`` begin (a last line without a newline counts as a line)."""
    if lines <= 0:
        return size
    if size == 0:
        return 0
    f.seek(size - 1)
    # The final newline ends the last line; it does not start one.
    pos = size - 1 if f.read(1) == b"\n" else size
    wanted = lines
    while pos > 0:
        step = min(OUTPUT_CHUNK, pos)
        f.seek(pos - step)
        block = f.read(step)
        i = len(block)
        while True:
            i = block.rfind(b"\n", 0, i)
            if i < 0:
                break
            wanted -= 1
            if wanted == 0:
                return pos - step + i + 1
        pos -= step
    return 0


def find(text):
    """The job a user's id text names (``7``, ``00007``), or None."""
    # The store's module (the controller's writer) only here: gqsub reads
    # next_id() and never needs it.
    from .jobstore import canonical_id

    job_id = canonical_id(text)
    if job_id is None:
        return None
    job = Job(job_id)
    return job if job.exists() else None


def ids(state=None):
    """Ids of every job (or of those linked in ``state``), in listing order.

    Like the classic gqstat this lists every ``*.d`` entry that is not hidden
    (jobs being built or removed are hidden names).
    """
    d = paths.state_dir(state) if state else paths.jobs_dir()
    try:
        names = os.listdir(d)
    except OSError:
        return []
    out = [n[:-2] for n in names if n.endswith(".d") and not n.startswith(".")]
    out.sort()
    return out


def table_fields(jobs_fd, job_id, stats=None):
    """What gqstat's table needs of job ``job_id``, without a :class:`Job`:
    ``(state, execHost, copy)``, the first two as :func:`_read` gives them
    (``(text, problem)``), the last the target of the copy's link (None
    when there is none).  ``jobs_fd`` is the jobs directory, open; a list
    ``stats`` gets the ``stat`` of ``job.state`` (:func:`_read`).

    A listing of 10,000 jobs calls this 10,000 times, so it does the least:
    seven system calls, no object per job.  A job that needs more looks
    goes on in a view made with :meth:`Job.seeded`, which reads no file
    twice (a FIFO in a job's place would give its bytes once only).
    """
    prefix = job_id + ".d/"
    state = _read(prefix + "job.state", jobs_fd, stats)
    host = _read(prefix + "job.execHost", jobs_fd)
    try:
        copy = os.readlink(prefix + job_id, dir_fd=jobs_fd)
    except OSError:
        copy = None
    return state, host, copy


def jobs(state=None, job_type=None):
    """Views of every job (in ``state``, of ``job_type``), in listing order."""
    found, base, fd = listing(state, job_type)
    return [Job(j, base, fd) for j in found]


def listing(state=None, job_type=None):
    """``(ids, jobs directory, its descriptor)`` of every job (in ``state``,
    of ``job_type``), in listing order; the descriptor is None when the
    directory cannot be opened.  For a listing that makes a :class:`Job`
    only where it needs one (:func:`table_fields`)."""
    base = paths.jobs_dir()
    fd = _open_jobs_dir(base)
    found = ids(state)
    if job_type is not None:
        found = [j for j in found if Job(j, base, fd).text("job.type") == job_type]
    return found, base, fd


# (path, descriptor) of the jobs directory, open once per process.
_JOBS_DIR = []


def _open_jobs_dir(path):
    """A descriptor of the directory ``path`` for :func:`jobs`, or None.
    One per process (a long-lived caller, gsatmail, lists again and again),
    opened again when ``path`` has come to name another directory (the
    store removed and made anew)."""
    try:
        now = os.stat(path)
        if _JOBS_DIR:
            kept, fd = _JOBS_DIR.pop()
            was = os.fstat(fd)
            if kept == path and (was.st_dev, was.st_ino) == (now.st_dev, now.st_ino):
                _JOBS_DIR.append((kept, fd))
                return fd
            os.close(fd)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    _JOBS_DIR.append((path, fd))
    return fd


def next_id():
    """The id the controller hands out next, as a number (0 if unknown)."""
    from .fsutil import read_first_line  # non-blocking: a FIFO reads as nothing

    text = (read_first_line(paths.next_job_id_file(), "") or "").strip()
    return int(text) if digits(text) else 0


def by_submit_box(boxes, first=0):
    """``{answer box: job id}`` for jobs numbered ``first`` or higher that
    were submitted with one of ``boxes``: how a client learns which of its
    unanswered submissions the controller carried out."""
    wanted = set(boxes)
    found = {}
    for job_id in ids():
        if digits(job_id) and int(job_id) >= first:
            box = Job(job_id).submit_box
            if box in wanted:
                found[box] = job_id
    return found

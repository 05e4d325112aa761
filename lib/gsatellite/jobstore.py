"""The job store ``G/gschedule`` (PROTOCOL.md §4).

Layout: ``nextJobId`` (next id, decimal), ``jobs/ID.d/`` per job, and one
symlink ``STATE/ID.d -> jobs/ID.d`` in the directory of the job's state.

Invariants:

* The controller is the single writer of ids, states and job directories.
* Every file is written atomically (temporary name + rename).
* ``job.state`` is the authority; the state link follows it.
  :meth:`JobStore.set_state` writes ``job.state``, then moves the old
  state's link into the new state's directory (one rename; a new link
  where there is none to move), then removes other links, so after a crash
  at any point :meth:`reconcile` can make the links agree with
  ``job.state`` again.  Every change removes the
  links of every other state, not only the old one's: a link another
  writer left (a controller taken for lost that went on for a moment, a
  hand edit) goes at the job's next change.
* State changes are events: with a bus (:mod:`events`), every change emits
  JOB_STATE, and :meth:`JobStore.transition` also emits the event it is
  given, after the state is written.
* A job is built in ``jobs/.ID.d.new`` (:meth:`stage`, :meth:`copy_script`;
  the copy may run in another thread, it touches nothing else) and appears
  with one rename (:meth:`publish`); :meth:`reconcile` removes what a crash
  left staged.
* An id is handed out at most once: the counter is advanced before the job
  directory is created with an exclusive ``mkdir``; a corrupt counter is
  repaired from the highest existing id.
* No id wider than :data:`MAX_ID_DIGITS` digits is handed out, since no
  tool accepts one (:func:`canonical_id`): the store refuses the submission
  (:class:`IdsExhausted`) instead.
* A damaged job (its ``job.state`` cannot be written: a directory in its
  place, a job directory we may not write) is put aside, never a reason to
  stop: :meth:`reconcile` reports it, a failed write marks it, and from then
  on :meth:`ids` leaves it out, so scheduling and recovery never touch it
  again.  Removing it (QDEL) still works.  A full or read-only file system
  is not damage: the write fails, the job stays as it was, and the next
  attempt may succeed.
"""

import errno
import os
import stat
import time

from . import paths, states
from .fsutil import (
    NO_ROOM,
    makedirs,
    read_first_line,
    read_text,
    symlink_atomic,
    unlink_quiet,
    write_all,
    write_atomic,
)
from .protocol import digits


# Bytes per read when copying a job script.
COPY_CHUNK = 1 << 16


def _rmtree(path):
    # Imported here: clients import this module for canonical_id() and
    # should not pay for shutil at start-up.
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _events():
    # Imported when used: only the controller's store has a bus, and clients
    # import this module (canonical_id) without paying for the events.
    from . import events

    return events


class StoreError(Exception):
    """The store cannot be created or used; ``code`` is the exit code."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


class InvalidJobId(Exception):
    pass


class JobTooLarge(OSError):
    """The job script is larger than the limit it is copied with."""


class IdsExhausted(OSError):
    """The counter has passed the widest id the tools accept."""


# The widest job id every tool accepts; the store never hands out a wider one.
MAX_ID_DIGITS = 12
MAX_ID = 10 ** MAX_ID_DIGITS - 1


def canonical_id(text):
    """``"7"`` -> ``"00007"``; None for anything that is not a job number."""
    if not isinstance(text, str) or not text.isdigit() or not text.isascii():
        return None
    if len(text) > MAX_ID_DIGITS:
        return None
    return "%05d" % int(text)


def _id_key(job_id):
    return (len(job_id), job_id)


def _position(ids, job_id):
    """Where ``job_id`` is or would go in ``ids``, sorted by :func:`_id_key`
    (``bisect`` takes a key only from Python 3.10 on)."""
    key = _id_key(job_id)
    lo, hi = 0, len(ids)
    while lo < hi:
        mid = (lo + hi) // 2
        if _id_key(ids[mid]) < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _mtime(directory):
    try:
        return os.stat(directory).st_mtime_ns
    except OSError:
        return None


class JobStore:
    # Seconds a listing of queued/ is used before the directory is listed
    # again (see queued_ids).
    QUEUED_RELIST = 1.0

    def __init__(self, bus=None):
        self.bus = bus
        # job id -> why it is put aside (see the module's invariants)
        self.damaged = {}
        self._queued = None  # queued/ as last listed, kept up to date by set_state
        self._queued_mtime = None  # queued/'s st_mtime_ns that listing stands for
        self._queued_at = 0.0

    def _failed(self, job_id, name, error):
        """A write of job file ``name`` failed with ``error``: mark the job
        damaged unless the whole file system is at fault."""
        if isinstance(error, OSError) and error.errno not in NO_ROOM and job_id not in self.damaged:
            self.damaged[job_id] = "%s: %s" % (name, error.strerror or error)

    # -- creation --------------------------------------------------------------
    def ensure(self):
        base = paths.gschedule_dir()
        try:
            makedirs(base)
        except OSError as e:
            raise StoreError("cannot create %s: %s" % (base, e.strerror), 79)
        try:
            for d in (paths.jobs_dir(),) + tuple(paths.state_dir(s) for s in states.ALL):
                makedirs(d)
            if not os.path.exists(paths.next_job_id_file()):
                write_atomic(paths.next_job_id_file(), "0\n")
        except OSError as e:
            raise StoreError("cannot create job directories: %s" % e.strerror, 80)

    # -- ids -----------------------------------------------------------------------
    def ids(self, state=None):
        return self._undamaged(self._list(state))

    def _list(self, state):
        d = paths.state_dir(state) if state else paths.jobs_dir()
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return []
        out = [n[:-2] for n in names if n.endswith(".d") and digits(n[:-2])]
        out.sort(key=_id_key)
        return out

    def _undamaged(self, ids):
        return [i for i in ids if i not in self.damaged] if self.damaged else list(ids)

    def queued_ids(self):
        """:meth:`ids` of the queued jobs, for the scheduler's passes.

        Listing and sorting queued/ at every pass made each job start cost
        time in proportion to the queue (issue 18: +1.1 ms a job while 2,000
        drained).  The listing is kept, and changed with every state this
        store sets; it is made again from the directory when the
        directory's modification time is not the one this store last saw
        (another writer: a hand edit, a controller taken for lost), once it
        is :attr:`QUEUED_RELIST` seconds old (a change within the same tick
        of a coarse clock, or behind an attribute cache, keeps the time),
        and after every repair.  The scheduler still reads a job's
        ``job.state`` before it starts it."""
        now = time.monotonic()
        mtime = _mtime(paths.state_dir(states.QUEUED))
        if (self._queued is None or mtime is None or mtime != self._queued_mtime
                or now - self._queued_at >= self.QUEUED_RELIST):
            # The time first: a change while listing is seen next time.
            self._queued = self._list(states.QUEUED)
            self._queued_mtime, self._queued_at = mtime, now
        return self._undamaged(self._queued)

    def forget_queued(self):
        """The next :meth:`queued_ids` lists queued/ again."""
        self._queued = None

    def _touches_queued(self, job_id, new):
        """The modification time of queued/ before a change of ``job_id``
        to ``new`` that changes it, while a listing is kept; else None."""
        if self._queued is None or (new != states.QUEUED and not self._listed(job_id)[1]):
            return None
        return _mtime(paths.state_dir(states.QUEUED))

    def _listed(self, job_id):
        ids = self._queued
        at = _position(ids, job_id)
        return at, at < len(ids) and ids[at] == job_id

    def _queued_changed(self, job_id, queued, before):
        """After this store changed ``job_id``'s link in queued/: the kept
        listing follows, unless someone else changed the directory since it
        was listed (``before``, its time then, is not the one last seen)."""
        if self._queued is None or before is None or before != self._queued_mtime:
            self._queued = None
            return
        at, there = self._listed(job_id)
        if queued and not there:
            self._queued.insert(at, job_id)
        elif there and not queued:
            del self._queued[at]
        self._queued_mtime = _mtime(paths.state_dir(states.QUEUED))

    def resolve_id(self, text):
        """Canonical id of an existing job, else :class:`InvalidJobId`."""
        job_id = canonical_id(text)
        if job_id is None or not os.path.isdir(paths.job_dir(job_id)):
            raise InvalidJobId(text)
        return job_id

    def exists(self, job_id):
        return os.path.isdir(paths.job_dir(job_id))

    def _read_counter(self):
        text = read_first_line(paths.next_job_id_file(), "")
        if text is not None and digits(text.strip()):
            return int(text.strip()), None
        existing = self.ids()
        repaired = int(existing[-1]) + 1 if existing else 0
        return repaired, "nextJobId was corrupt (%r); repaired to %d" % (text, repaired)

    def new_id(self):
        """Hand out the next id and create its (empty) staging directory.

        The job is built in ``jobs/.ID.d.new`` and renamed into place by
        :meth:`create`, so a crash never leaves half a job behind.
        Returns ``(job_id, warning_or_None)``.
        """
        value, warning = self._read_counter()
        while True:
            if value > MAX_ID:
                raise IdsExhausted(errno.EOVERFLOW, "job ids exhausted: the next id %d is wider than %d digits "
                                   "(see nextJobId)" % (value, MAX_ID_DIGITS))
            job_id = "%05d" % value
            value += 1
            write_atomic(paths.next_job_id_file(), "%d\n" % value)
            if os.path.lexists(paths.job_dir(job_id)):
                warning = warning or "nextJobId pointed at existing job %s; skipped" % job_id
                continue
            staging = paths.job_staging_dir(job_id)
            _rmtree(staging)
            os.mkdir(staging, 0o700)
            return job_id, warning

    # -- job files ---------------------------------------------------------------
    def read(self, job_id, name, default=None):
        text = read_text(paths.job_file(job_id, name))
        if text is None:
            return default
        return text.rstrip("\n")

    def count(self, job_id, name):
        """How many entries a job's ``job.start`` or ``job.stop`` holds
        (one time stamp a run): the number of its runs started or ended."""
        return len((self.read(job_id, name, "") or "").split())

    def write(self, job_id, name, value):
        try:
            write_atomic(paths.job_file(job_id, name), "%s\n" % value)
        except OSError as e:
            self._failed(job_id, name, e)
            raise

    def stage(self, job_id, name, job_type, attrs=None):
        """Write a new job's attributes into its staging directory (from
        :meth:`new_id`); ``name`` is the job's name and its copy's file name."""
        staging = paths.job_staging_dir(job_id)
        files = {"jobId": job_id, "job.id": job_id, "job.name": name, "job.type": job_type}
        files.update(attrs or {})
        files["job.state"] = states.QUEUED
        for attr, value in files.items():
            # Plain writes: nobody looks into the staging directory.
            fd = os.open(os.path.join(staging, attr), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                write_all(fd, ("%s\n" % value).encode("utf-8", "surrogateescape"))
            finally:
                os.close(fd)  # reports ENOSPC/EDQUOT on NFS: part of the write
        os.mkdir(os.path.join(staging, "jobtmp"), 0o700)

    def copy_script(self, job_id, source, name, limit=None, data=None):
        """Copy the job script into the staging directory, at most ``limit``
        bytes (:class:`JobTooLarge` beyond).  Touches nothing outside the
        staging directory, so it may run in a worker thread.  ``data``: the
        script's bytes as the submission read them (its directives were
        taken from them), written instead of reading ``source`` again."""
        dest = os.path.join(paths.job_staging_dir(job_id), "jobtmp", name)
        if data is not None:
            if limit is not None and len(data) > limit:
                raise JobTooLarge("%s is larger than %d bytes" % (source, limit))
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o700)
            try:
                # The mode asked for is cut by the umask: set it whole.
                os.fchmod(fd, 0o700)
                write_all(fd, data)
            finally:
                os.close(fd)  # reports ENOSPC/EDQUOT on NFS: part of the write
            return
        copied = 0
        # Non-blocking open, then a check: a FIFO put in the script's place
        # since the submission looked at it must not block us.
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", source)
            fin = os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        with fin, open(dest, "wb") as fout:
            while True:
                chunk = fin.read(COPY_CHUNK)
                if not chunk:
                    break
                copied += len(chunk)
                # Checked while copying: the file may have grown since the
                # submission looked at its size.
                if limit is not None and copied > limit:
                    raise JobTooLarge("%s is larger than %d bytes" % (source, limit))
                fout.write(chunk)
        os.chmod(dest, 0o700)

    def publish(self, job_id, name):
        """Commit a staged job (PROTOCOL.md §5 step 2): the rename to
        ``jobs/ID.d`` is the commit, then the ``queued`` link follows (a
        crash in between is repaired by :meth:`reconcile`)."""
        staging = paths.job_staging_dir(job_id)
        # The link names the final location, valid once the rename is done.
        os.symlink(os.path.join(paths.job_tmp_dir(job_id), name), os.path.join(staging, job_id))
        os.rename(staging, paths.job_dir(job_id))
        try:
            # job.state was staged as queued: only the link is missing.
            self.set_state(job_id, states.QUEUED, notify=False, written=True, was=states.QUEUED)
        except OSError:
            pass  # the job exists; reconcile() adds the missing link
        return paths.job_dir(job_id)

    def create(self, job_id, source, job_type, name=None, attrs=None, limit=None):
        """Build a new job from ``source`` and publish it as queued."""
        name = name or os.path.basename(source)
        self.stage(job_id, name, job_type, attrs)
        self.copy_script(job_id, source, name, limit)
        return self.publish(job_id, name)

    def discard_staging(self, job_id):
        _rmtree(paths.job_staging_dir(job_id))

    def job_path(self, job_id):
        """Absolute path of the job's copy (target of ``jobs/ID.d/ID``)."""
        try:
            return os.readlink(paths.job_file(job_id, job_id))
        except OSError:
            return None

    # -- states ---------------------------------------------------------------------
    def state(self, job_id):
        word = self.read(job_id, "job.state", "")
        word = word.strip() if word else ""
        if states.is_state(word):
            return word
        linked = self.linked_states(job_id)
        return linked[0] if len(linked) == 1 else None

    def linked_states(self, job_id):
        return [s for s in states.ALL if os.path.lexists(paths.state_link(s, job_id))]

    def set_state(self, job_id, new, notify=True, written=False, was=None):
        """Write a job's state; emits JOB_STATE when it changed (and
        ``notify``).  Returns the state before.  ``written``: ``job.state``
        already says ``new`` (a job published from staging), only the
        links are made to agree.  ``was``: the state the caller has just
        read from ``job.state`` (not read again)."""
        old = self.state(job_id) if was is None else was
        if not written:
            self.write(job_id, "job.state", new)
        before = self._touches_queued(job_id, new)
        try:
            if not self._move_link(job_id, old, new):
                symlink_atomic(paths.job_dir(job_id), paths.state_link(new, job_id))
        except OSError as e:
            self._failed(job_id, "%s/%s.d" % (new, job_id), e)
            raise
        for s in states.ALL:
            # The old state's too: a rename between two names of one file
            # (a link restored by ``cp -al``) is a success that moves nothing.
            if s != new:
                unlink_quiet(paths.state_link(s, job_id))
        if before is not None:
            self._queued_changed(job_id, new == states.QUEUED, before)
        if notify and self.bus is not None and old != new:
            self.bus.emit(_events().JOB_STATE, job_id, old=old, new=new)
        return old

    def _move_link(self, job_id, old, new):
        """Move the job's link from ``old``'s directory to ``new``'s with one
        rename; False when there is no such link naming the job's directory
        (nothing moved; a link naming anything else is left to be removed,
        not carried on).  A rename makes no new inode and frees none
        (on ext4 each freed inode slows the next allocations, issue 18), and
        the job is never in both directories nor in neither."""
        if old == new or not states.is_state(old):
            return False
        link = paths.state_link(old, job_id)
        try:
            if os.readlink(link) != paths.job_dir(job_id):
                return False
            os.rename(link, paths.state_link(new, job_id))
        except OSError:
            return False
        return True

    def transition(self, job_id, new, event=None, was=None, **info):
        """The one way the controller changes a job's state: write it (as
        :meth:`set_state`), then emit ``event`` with ``info``."""
        old = self.set_state(job_id, new, was=was)
        if event is not None and self.bus is not None:
            self.bus.emit(event, job_id, **info)
        return old

    def remove(self, job_id):
        if self.bus is not None:
            self.bus.emit(_events().JOB_DELETED, job_id)
        before = self._touches_queued(job_id, None)
        for s in states.ALL:
            unlink_quiet(paths.state_link(s, job_id))
        if before is not None:
            self._queued_changed(job_id, False, before)
        jdir = paths.job_dir(job_id)
        # Rename first so a half-removed directory is never mistaken for a job.
        trash = os.path.join(paths.jobs_dir(), ".removed.%s.%d" % (job_id, os.getpid()))
        os.rename(jdir, trash)
        self.damaged.pop(job_id, None)
        _rmtree(trash)

    def reconcile(self):
        """Make state links agree with ``job.state``; returns what was
        repaired and which jobs are damaged (put aside, see above)."""
        self.forget_queued()
        repairs = []
        for name in os.listdir(paths.jobs_dir()):
            if name.startswith(".") and (name.endswith(".d.new") or name.startswith(".removed.")):
                _rmtree(os.path.join(paths.jobs_dir(), name))
                repairs.append("%s: unfinished submission or removal cleaned up" % name)
        for s in states.ALL:
            for job_id in self.ids(s):
                if not self.exists(job_id):
                    unlink_quiet(paths.state_link(s, job_id))
                    repairs.append("%s: dangling %s link removed" % (job_id, s))
        for job_id in self.ids():
            try:
                repair = self._reconcile_job(job_id)
            except OSError as e:
                # One job must not stop the others (nor the controller).
                self._failed(job_id, "job.state", e)
                if job_id in self.damaged:
                    repair = "damaged (%s); put aside until it is repaired or deleted" % self.damaged[job_id]
                else:
                    repair = "cannot repair now: %s" % (e.strerror or e)
            if repair:
                repairs.append("%s: %s" % (job_id, repair))
        return repairs

    def repair(self, job_id):
        """Make one job's links agree with its ``job.state`` as
        :meth:`reconcile` does; what was repaired, or None.  OSError when
        the job's files cannot be read or written."""
        self.forget_queued()
        return self._reconcile_job(job_id)

    def _reconcile_job(self, job_id):
        if not self.exists(job_id):
            raise OSError(errno.ENOTDIR, "not a directory", paths.job_dir(job_id))
        word = (self.read(job_id, "job.state", "") or "").strip()
        linked = self.linked_states(job_id)
        if states.is_state(word):
            if linked == [word]:
                return None
            self.set_state(job_id, word, notify=False)
            return "links %s made to agree with job.state=%s" % (linked, word)
        exit_value = (self.read(job_id, "job.exit", "") or "").strip()
        ended = states.FINISHED if exit_value == "0" else states.FAILED
        if len(linked) == 1:
            chosen = linked[0]
        elif linked:
            # No state word and several links: the one that runs nothing
            # twice.  An ended state when the job has an exit value on
            # record, then held, running (recovery accounts for it), and
            # queued last.
            if digits(exit_value) and set(linked) & set(states.ENDED):
                chosen = ended if ended in linked else next(s for s in states.ENDED if s in linked)
            else:
                chosen = next(s for s in (states.HELD, states.RUNNING, states.QUEUED) + states.ENDED if s in linked)
        else:
            chosen = ended if digits(exit_value) else states.QUEUED
        self.set_state(job_id, chosen, notify=False)
        return "job.state was %r; set to %s" % (word, chosen)

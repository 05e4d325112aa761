"""The listing cache: what gqstat read of jobs that ended (issue 18).

A listing of 10,000 jobs is some 70,000 system calls (three per job file,
a ``readlink``), most of its time in the kernel.  A job that has ended
does not change any more, so a long listing keeps what it read of such
jobs in a file, ``G/var/cache/listing.table`` (``listing.long`` for
``-f``), and the next one takes them from there: one ``stat`` of the job's
``job.state`` instead of opening its files.

An entry holds the job files a listing read (their whole text, or that
they were missing; or what it made of them, under a name with a "/", which
no file name has) and a key of the ``job.state`` it saw before reading
them: device, inode, modification and change time, size.  Every change of
a job's state writes ``job.state``: ours by a rename (a new inode), the
classic tools in place (a new modification time).  A job runs again only
through such changes (a classic ``gqhold`` of a finished job, then
``gqrls``), so an entry whose key is the key of ``job.state`` now was read
from the job as it is.  Looking before reading matters: a change in
between gives the entry an old key (read again next time), never a new key
over old text.  For a job the cache does not hold, the table takes the key
from the ``job.state`` it opens (``fstat`` before the read) instead of a
``stat`` of its own (the first listing after many jobs ended).  What the
key cannot see is any change to the job's other files (one rewritten in
place or replaced, removed or made anew, made a directory; the copy link
pointed elsewhere) more than :data:`SETTLE` seconds after its last state
change: the listing shows what it saw before (and no damage the change
made) until the job's state changes.  No tool of either kind does so to an
ended job; a user's service or a hand edit could (docs/protocol.md).  A
``job.state`` that is a link is keyed by the file it names, the file read.

Only ended jobs that are not damaged go in, and only once their
``job.state`` has not changed for :data:`SETTLE` seconds: time stamps are
coarse (a kernel tick, a second on some NFS servers), so a change just
after a read could keep the time the read saw; a minute also covers some
clock skew between an NFS client and its server.  Listings shorter than
:data:`MIN_JOBS` read the store alone and never touch the cache.

The file is text: a header line, then records, each ended by RS
(``\\x1e``), of fields separated by US (``\\x1f``): id, a CRC-32 (hex)
of id and the rest, key, then pairs of file name and text (FS,
``\\x1c``, for a missing file); the file ends with RS and ``end``.  A job
whose id, file names or texts hold one of these separators, GS or NUL is
not cached, nor one whose record would exceed :data:`RECORD_LIMIT`.  The
file is written without fsync, so a crash may leave it torn, zeroed or
with stale blocks: a file without its header or end mark, holding a NUL,
larger than :data:`LIMIT` or than twice the store's jobs' worth of records
(or a FIFO, a directory in its place) is no cache, and the listing reads
the store and writes the cache anew; a record whose checksum, length or
fields are not right is read from the store again, and so is one whose
text makes the job look damaged or (the table) is not one printable line.
A writer killed while it wrote leaves its temporary file, removed by the
next writer a minute later.  The cache is written only into a real
directory ``G/var/cache``, never through a link.
"""

import os
import stat
import time

from . import paths, states
from .fsutil import is_temp_name, makedirs, read_bytes, write_atomic

HEADER = "gsatellite listing cache 1\n"
END = "end\n"
FS, GS, RS, US = "\x1c", "\x1d", "\x1e", "\x1f"
# A listing this long or longer uses the cache (gqstat's halves start there
# too): below it, loading and writing the file would cost what it saves.
MIN_JOBS = 1000
SETTLE = 60
# Some 100,000 jobs' worth of -f -x records; a larger file is not ours to
# read, and a listing that would write one writes nothing.
LIMIT = 64 << 20
# A job whose record would be longer (a long job.events, say) is read from
# the store each time.
RECORD_LIMIT = 4096


def _key(st):
    # Five numbers in sixteen hex digits: Python hashes a tuple of ints the
    # same in every process of one build (no per-process salt), and another
    # build's different hash only makes every entry a miss once.
    return "%x" % (hash((st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size))
                   & 0xFFFFFFFFFFFFFFFF)


def _clean(value):
    # Five searches in C, one call per job of a listing that fills the cache.
    return value is None or not (FS in value or GS in value or RS in value or US in value or "\0" in value)


def open_for(kind, jobs_fd, count):
    """The cache of listings of ``kind`` (``table`` or ``long``: each holds
    just the files its listings read, so a record is parsed quickly) for a
    listing of ``count`` jobs of the jobs directory open as ``jobs_fd``;
    None when the listing reads the store alone."""
    if jobs_fd is None or count < MIN_JOBS:
        return None
    from .job import next_id

    # Ids are never handed out twice: no more jobs than that can be held.
    return Cache(jobs_fd, paths.listing_cache_file(kind), max(count, next_id()))


def _load(path, jobs):
    """The records of the cache file ``path`` of a store of at most
    ``jobs`` jobs; none when the file is not whole or is far larger than
    that many records can be (memory grows with what is read)."""
    most = 2 * jobs + 100
    try:
        if os.stat(path).st_size > min(LIMIT, most * RECORD_LIMIT):
            return {}
        data = read_bytes(path, None, LIMIT + 1)
        if not data or len(data) > LIMIT:
            return {}
        text = data.decode("utf-8", "surrogateescape")
        # Torn or zeroed by a crash (no fsync: a cache is not worth one):
        # a record holds no NUL, and each says its checksum (_body).
        if not text.startswith(HEADER) or not text.endswith(RS + END) or "\0" in text or \
                text.count(RS) > most:
            return {}
        return _records(text[len(HEADER):-len(END)])
    except (OSError, MemoryError):
        return {}


def _records(text):
    """``{id: the rest of its record}``: a record is parsed when it is used
    (:func:`_values`), and a listing uses few of them in one process."""
    out = {}
    for record in text.split(RS):
        job_id, sep, rest = record.partition(US)
        if sep:
            out[job_id] = rest
    return out


def _values(text):
    """``{file: text or None}`` of a record's pairs; None if they do not parse."""
    fields = text.split(US) if text else []
    if len(fields) % 2:
        return None
    out = dict(zip(fields[0::2], fields[1::2]))
    if FS in text:
        for name, value in out.items():
            if value == FS:
                out[name] = None
    return out


_crc32 = None


def _crc(job_id, body):
    global _crc32
    if _crc32 is None:  # a C module, loaded only where a cache is used
        from zlib import crc32 as _crc32
    return _crc32(("%s\x1f%s" % (job_id, body)).encode("utf-8", "surrogateescape"))


def _record(job_id, key, read):
    """The rest of job ``job_id``'s record after its id: a checksum of id,
    key and pairs (a record cut short and joined to another's tail, a
    stale block a crash left, a changed byte), then key and pairs."""
    fields = [key]
    for name, value in read.items():
        fields += (name, FS if value is None else value)
    body = US.join(fields)
    return "%08x%s%s" % (_crc(job_id, body), US, body)


def _body(job_id, record):
    """The key and pairs of job ``job_id``'s record, or None when the record
    is too long or its checksum is not right."""
    if len(record) > RECORD_LIMIT:
        return None
    crc, sep, body = record.partition(US)
    try:
        return body if sep and int(crc, 16) == _crc(job_id, body) else None
    except ValueError:
        return None


class Cache:
    """The cache as one listing uses it: :meth:`look` before a job's files
    are read, :meth:`keep` what was read, :meth:`save` at the end."""

    def __init__(self, jobs_fd, path, jobs=0):
        self.fd = jobs_fd
        self.path = path
        self.entries = _load(path, jobs) if path is not None else {}
        self.keys = {}
        self.fresh = set()
        self.dropped = set()
        self.changed = False
        self.settled = time.time() - SETTLE

    def look(self, job_id, later=False):
        """What the cache holds of job ``job_id`` (``{file: text or None}``)
        when its ``job.state`` is the one it saw, else None.  ``later``: on
        a miss the caller reads ``job.state`` and hands :meth:`keep` the
        ``stat`` it took before the read, so a job the cache does not hold
        costs no ``stat`` here (the first listing after many jobs ended)."""
        record = self.entries.get(job_id)
        if record is None and later:
            return None
        try:
            st = os.stat(job_id + ".d/job.state", dir_fd=self.fd)
        except (OSError, ValueError):
            st = None
        key = self.keys[job_id] = self._key_of(st)
        if record is None:
            return None
        body = _body(job_id, record) if key is not None else None
        if body is not None and body.startswith(key) and body[len(key):len(key) + 1] in ("", US):
            held = _values(body[len(key) + 1:])
            if held is not None:
                return held
        self._drop(job_id)
        return None

    def _key_of(self, st):
        # Only a regular file that has settled gives a key (SETTLE).
        return _key(st) if st is not None and stat.S_ISREG(st.st_mode) and st.st_mtime <= self.settled else None

    def keep(self, job_id, read, state_stat=False):
        """Keep ``read`` (``{file: text or None}``, every file of job
        ``job_id`` a listing read after :meth:`look`, none damaged) when the
        job has ended and settled; it joins what the entry held.
        ``state_stat``: the ``stat`` of the ``job.state`` read, taken
        before the read (None: none was opened), after ``look(later=True)``."""
        key = self.keys.get(job_id) if state_stat is False else self._key_of(state_stat)
        if key is None or (read.get("job.state") or "").strip() not in states.ENDED:
            return
        if not _clean(job_id + "".join(read) + "".join([v for v in read.values() if v is not None])):
            return
        record = self.entries.get(job_id)
        if record is not None:
            body = _body(job_id, record)
            held = _values(body[len(key) + 1:]) if body is not None and body.startswith(key + US) else None
            if held and all(n in held and held[n] == v for n, v in read.items()):
                return
            if held:
                held.update(read)
                read = held
        record = _record(job_id, key, read)
        if len(record) <= RECORD_LIMIT:
            self._set(job_id, record)
        elif job_id in self.entries:
            self._drop(job_id)

    def forget(self, job_id):
        """Drop what the cache holds of job ``job_id`` (its text made the
        job look damaged: the store is read instead)."""
        if job_id in self.entries:
            self._drop(job_id)

    def _set(self, job_id, record):
        self.entries[job_id] = record
        self.fresh.add(job_id)
        self.dropped.discard(job_id)
        self.changed = True

    def _drop(self, job_id):
        del self.entries[job_id]
        self.fresh.discard(job_id)
        self.dropped.add(job_id)
        self.changed = True

    def _text(self, ids):
        return "".join(j + US + self.entries[j] + RS for j in ids)

    def dump(self):
        """What this process changed, as text for :meth:`take` in another
        (gqstat's second half, :mod:`gsatellite.cli.halves`); no NUL in it."""
        return self._text(self.fresh) + GS + US.join(j for j in self.dropped if _clean(j))

    def take(self, text):
        """The changes another process made (:meth:`dump`)."""
        fresh, _, dropped = text.partition(GS)
        for job_id in dropped.split(US) if dropped else ():
            if job_id in self.entries:
                self._drop(job_id)
        for job_id, record in _records(fresh).items():
            self._set(job_id, record)

    def save(self, listed=None):
        """Write the cache if it changed; ``listed``, the ids of a listing of
        every job, drops entries of jobs that are gone.  Never fails: the
        listing is printed already, and a full disk leaves the old cache."""
        if listed is not None:
            present = set(listed)
            for job_id in [j for j in self.entries if j not in present]:
                self._drop(job_id)
        if not self.changed:
            return
        try:
            data = (HEADER + self._text(self.entries) + RS + END).encode("utf-8", "surrogateescape")
            if len(data) > LIMIT:  # it would not be read: leave the one there
                return
            d, name = os.path.split(self.path)
            makedirs(d)
            if not stat.S_ISDIR(os.lstat(d).st_mode):  # a link: not ours to write through
                return
            _sweep(d, name)
            write_atomic(self.path, data)
        except (OSError, ValueError):
            pass


def _sweep(d, name):
    """Remove temporary files of writers of ``name`` killed while they
    wrote: regular files, a minute old (a live writer's file is younger)."""
    old = time.time() - SETTLE
    for entry in os.listdir(d):
        if is_temp_name(entry, name):
            path = os.path.join(d, entry)
            try:
                st = os.lstat(path)
                if stat.S_ISREG(st.st_mode) and st.st_mtime < old:
                    os.unlink(path)
            except OSError:
                pass

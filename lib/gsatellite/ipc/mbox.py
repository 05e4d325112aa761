"""Message boxes: directories that hold one file per message (PROTOCOL.md §2).

Invariants:

* A box is ``G/mboxes/HOST/NAME.inbox``, mode 0700.  Its owner's host is the
  name of the parent directory, its PID the part of the (alias-resolved) box
  name before the first ``.``.
* A message is published by writing ``.message.XXXXXXXX`` and renaming it to
  ``message.XXXXXXXX``; receivers only look at names starting with
  ``message``, so the rename is the commit and a reader never sees half a
  message.
* Receivers take the oldest message by ctime; ties are broken by name.  Our
  senders put a microsecond clock in the first six of the eight characters,
  so messages published within one coarse ctime tick still keep their order.
* A message is consumed exactly once: read, rename to ``read.NAME``, unlink.
"""

import errno
import os
import time

from .. import paths
from ..fsutil import ALPHABET, random_chars

MESSAGE_PREFIX = "message"
BOX_SUFFIX = ".inbox"


class BoxMissing(Exception):
    """The message box does not exist (classic return code 2)."""


class BadMessage(Exception):
    """A message file that is not a valid one-line message."""


def _clock_chars():
    # 6 base-62 digits of microseconds: wraps every ~15.8 hours, which only
    # matters for two messages published in the same ctime tick at the wrap.
    n = int(time.time() * 1e6) % (62 ** 6)
    out = []
    for _ in range(6):
        n, r = divmod(n, 62)
        out.append(ALPHABET[r])
    return "".join(reversed(out))


def resolve(box):
    """Resolve an alias box (a relative symlink) to the real box path."""
    try:
        target = os.readlink(box)
    except OSError:
        return box
    return os.path.join(os.path.dirname(box), os.path.basename(target))


def owner(box):
    """``(host, pid)`` owning ``box``; pid is a string, may be non-numeric."""
    real = resolve(box.rstrip("/"))
    host = os.path.basename(os.path.dirname(real))
    pid = os.path.basename(real).split(".", 1)[0]
    return host, pid


def create_box(name, host=None):
    """Create (or reuse) the box ``NAME`` in this host's box directory."""
    d = paths.mboxes_dir(host)
    os.makedirs(d, mode=0o700, exist_ok=True)
    box = os.path.join(d, name)
    try:
        os.mkdir(box, 0o700)
    except FileExistsError:
        # A box left behind by an earlier process with the same PID: its
        # content was addressed to a process that no longer exists.
        for entry in _listdir(box):
            _unlink(os.path.join(box, entry))
    return box


def create_pid_box(pid=None, suffix=""):
    """The box ``PID[SUFFIX].inbox`` of this (or the given) process."""
    return create_box("%d%s%s" % (pid or os.getpid(), suffix, BOX_SUFFIX))


def create_temp_box():
    """A classic temporary box: 8 random characters plus ``.inbox``."""
    d = paths.mboxes_dir()
    os.makedirs(d, mode=0o700, exist_ok=True)
    while True:
        name = random_chars(8)
        try:
            os.mkdir(os.path.join(d, name), 0o700)
        except FileExistsError:
            continue
        box = os.path.join(d, name + BOX_SUFFIX)
        try:
            os.rename(os.path.join(d, name), box)
        except OSError:
            os.rmdir(os.path.join(d, name))
            continue
        return box


def create_alias(box, alias_name):
    """Point ``alias_name`` (in the same directory) at ``box``, atomically."""
    alias = os.path.join(os.path.dirname(box), alias_name)
    tmp = alias + ".new." + random_chars(8)
    os.symlink(os.path.basename(box), tmp)
    os.rename(tmp, alias)
    return alias


def remove_box(box):
    """Remove a box and whatever it still holds; never follows an alias."""
    if os.path.islink(box):
        _unlink(box)
        return
    for entry in _listdir(box):
        _unlink(os.path.join(box, entry))
    try:
        os.rmdir(box)
    except OSError:
        pass


def exists(box):
    return os.path.isdir(resolve(box))


def send(box, message):
    """Publish ``message`` in ``box``; raises :class:`BoxMissing`.

    Returns the path of the published message, which :func:`withdraw` takes.
    """
    real = resolve(box)
    for attempt in range(4):
        if os.path.isdir(real):
            break
        # NFS attribute caches can hide a fresh directory for a moment.
        try:
            os.utime(real)
        except OSError:
            pass
        if attempt == 3:
            raise BoxMissing(box)
        time.sleep(0.01 * (attempt + 1))
    data = (message + "\n").encode("utf-8", "surrogateescape")
    while True:
        name = _clock_chars() + random_chars(2)
        hidden = os.path.join(real, "." + MESSAGE_PREFIX + "." + name)
        try:
            fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        except FileNotFoundError:
            raise BoxMissing(box)
        break
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    published = os.path.join(real, MESSAGE_PREFIX + "." + name)
    try:
        os.rename(hidden, published)
    except FileNotFoundError:
        raise BoxMissing(box)
    return published


def withdraw(published):
    """Take back a message that nobody has read; True if it was still unread.

    Readers commit to a message by renaming it (:func:`consume`), so exactly
    one of a reader and this rename wins: False means a reader has it.
    """
    taken = os.path.join(os.path.dirname(published), ".withdrawn." + os.path.basename(published))
    try:
        os.rename(published, taken)
    except OSError:
        return False
    _unlink(taken)
    return True


def pending(box):
    """Visible message files of ``box``, oldest first (by ctime, then name)."""
    entries = []
    for name in _listdir(box, missing_ok=False):
        if not name.startswith(MESSAGE_PREFIX):
            continue
        try:
            st = os.lstat(os.path.join(box, name))
        except FileNotFoundError:
            continue
        entries.append((st.st_ctime_ns, name))
    entries.sort()
    return [os.path.join(box, name) for _, name in entries]


def consume(path, limit=65536):
    """Read one message file and remove it; returns the message text.

    Raises :class:`BadMessage` (after removing the file) for an empty,
    oversized or non-text message, and ``FileNotFoundError`` when another
    reader took it first.
    """
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    box, name = os.path.split(path)
    read_name = os.path.join(box, "read." + name)
    os.rename(path, read_name)
    _unlink(read_name)
    if len(data) > limit:
        raise BadMessage("message larger than %d bytes" % limit)
    data = data.rstrip(b"\n")
    if not data:
        raise BadMessage("empty message")
    if b"\0" in data or b"\n" in data:
        raise BadMessage("message is not one line of text")
    return data.decode("utf-8", "surrogateescape")


def receive(box, limit=65536):
    """Take the oldest message of ``box``, or return None if it is empty."""
    real = resolve(box)
    if not os.path.isdir(real):
        raise BoxMissing(box)
    for path in pending(real):
        try:
            return consume(path, limit)
        except FileNotFoundError:
            continue
    return None


class Inbox:
    """A box this process receives on, for a daemon loop.

    ``receive()`` returns the next message text or None when the box is empty;
    one directory listing serves a whole batch.  Bad entries are skipped with
    a log line.  Raises ``FileNotFoundError`` when the box itself is gone.
    """

    def __init__(self, box, limit=65536):
        self.address = box
        self.limit = limit
        self._batch = []

    def receive(self):
        from ..log import log

        while True:
            if not self._batch:
                self._batch = pending(self.address)
                if not self._batch:
                    return None
            path = self._batch.pop(0)
            try:
                return consume(path, self.limit)
            except FileNotFoundError:
                continue  # withdrawn by its sender, or taken by another reader
            except BadMessage as e:
                log("bad message %s discarded: %s" % (os.path.basename(path), e))
            except OSError as e:
                if e.errno != errno.EISDIR:
                    raise
                log("not a message file: %s" % path)

    def close(self):
        remove_box(self.address)


def _listdir(d, missing_ok=True):
    try:
        return os.listdir(d)
    except FileNotFoundError:
        if missing_ok:
            return []
        raise
    except NotADirectoryError:
        return []


def _unlink(path):
    try:
        os.unlink(path)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.EISDIR, errno.EPERM):
            raise

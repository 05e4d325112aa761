"""The journal: every message gsatmail took on, by Message-ID, and every
signature it accepted, so nothing is carried out twice.

One small file per key in ``G/mail/journal``: ``m-HASH`` for a Message-ID,
``s-HASH`` for a signature value (S/MIME signs the body, not the headers:
a body replayed under a fresh Message-ID and Date still carries the old
signature).  A message entry moves through

``processing``  claimed: written, with what is about to be done, *before*
                anything is done (for a job: the controller and the first
                job id it could get, to find the job by its submit box);
``acted``       done; the reply text is recorded, so a reply lost to a
                crash or a mail-route failure can be sent again;
``done``        replied.

Entries are created with ``link()`` (exclusive) and changed with
``rename()``, both after ``fsync``: a crash leaves the old or the new
entry, never half of one.  An entry is kept until ``keep_until``; after
that the message is too old to be accepted anyway.
"""

import errno
import hashlib
import os

from ..fsutil import open_regular, random_chars


def _hash(text):
    return hashlib.sha256(text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")).hexdigest()[:48]


def _encode(fields):
    return "".join("%s=%s\n" % (k, str(v).replace("\\", "\\\\").replace("\n", "\\n")) for k, v in fields.items())


def _decode(text):
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value.replace("\\n", "\n").replace("\\\\", "\\")
    return out


class Journal:
    def __init__(self, directory):
        self.dir = directory

    def _path(self, prefix, key):
        return os.path.join(self.dir, "%s-%s" % (prefix, _hash(key)))

    def _temp(self, fields, sync=True):
        tmp = os.path.join(self.dir, ".tmp." + random_chars(12))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, _encode(fields).encode("utf-8", "surrogateescape"))
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        return tmp

    def _sync_dir(self):
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError:
            pass  # some file systems cannot sync a directory
        finally:
            os.close(fd)

    def _create(self, path, fields):
        tmp = self._temp(fields)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        self._sync_dir()
        return True

    def _read(self, path):
        """The entry at ``path``; None when there is none, or when what is
        there is no regular file (a FIFO would block us, a socket or a
        symbolic link loop cannot be opened: none is an entry)."""
        try:
            fd = open_regular(path)
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.EISDIR, errno.ENXIO, errno.ELOOP):
                return None
            raise
        with os.fdopen(fd, "rb") as f:
            return _decode(f.read(65536).decode("utf-8", "surrogateescape"))

    # -- messages --------------------------------------------------------------------
    def get(self, message_id):
        return self._read(self._path("m", message_id))

    def claim(self, message_id, fields):
        """Record ``message_id`` as being processed; False when it already was."""
        return self._create(self._path("m", message_id), dict(fields, state="processing"))

    def update(self, message_id, fields, sync=True):
        """Replace the entry of ``message_id`` with ``fields``."""
        tmp = self._temp(fields, sync)
        try:
            os.rename(tmp, self._path("m", message_id))
        except BaseException:
            os.unlink(tmp)
            raise
        if sync:
            self._sync_dir()

    def release(self, message_id):
        """Forget ``message_id``: nothing was done, it may come again."""
        try:
            os.unlink(self._path("m", message_id))
        except FileNotFoundError:
            pass

    # -- signatures ------------------------------------------------------------------
    def claim_signature(self, signature, message_id, keep_until):
        """True when ``signature`` is new or already belongs to ``message_id``."""
        path = self._path("s", signature)
        if self._create(path, {"message_id": message_id, "keep_until": keep_until}):
            return True
        entry = self._read(path)
        return entry is not None and entry.get("message_id") == message_id

    def release_signature(self, signature, message_id):
        path = self._path("s", signature)
        entry = self._read(path)
        if entry is not None and entry.get("message_id") == message_id:
            os.unlink(path)

    # -- housekeeping ----------------------------------------------------------------
    @staticmethod
    def _prune_temp(path, now):
        """A temporary file a killed gsatmail left behind.  Whatever else
        is there under such a name (a directory, a link loop) is left, and
        never stops the prune."""
        try:
            if os.lstat(path).st_mtime < now - 3600:
                os.unlink(path)
        except OSError:
            pass

    def prune(self, now):
        """Remove finished entries whose ``keep_until`` has passed."""
        for name in os.listdir(self.dir):
            if name.startswith(".tmp."):
                self._prune_temp(os.path.join(self.dir, name), now)
                continue
            entry = self._read(os.path.join(self.dir, name)) or {}
            if name.startswith("m-") and entry.get("state") != "done":
                continue
            try:
                until = float(entry.get("keep_until", ""))
            except ValueError:
                continue
            if until < now:
                try:
                    os.unlink(os.path.join(self.dir, name))
                except FileNotFoundError:
                    pass

"""File message boxes: directories that hold one file per message (PROTOCOL.md §2).

This module is the only one that knows box paths and message file names.
Invariants:

* A box is ``G/mboxes/HOST/NAME.inbox``, mode 0700.  Its owner's host is the
  name of the parent directory, its PID the part of the (alias-resolved) box
  name before the first ``.``.  An :class:`~.base.Address` of this kind is
  the box's absolute path.
* A message is published by writing ``.message.XXXXXXXX`` and renaming it to
  ``message.XXXXXXXX``; receivers only look at names starting with
  ``message``, so the rename is the commit and a reader never sees half a
  message.  A send that fails (full disk, read-only file system) removes its
  hidden file and raises OSError naming the box: nothing is left behind.
* Receivers take the oldest message by ctime; ties are broken by name.  Our
  senders put a microsecond clock in the first six of the eight characters,
  so messages published within one coarse ctime tick still keep their order.
* A message is consumed exactly once: read, rename to ``read.NAME``, unlink.
* A receiver never blocks and never follows a link: an entry is opened only
  if ``lstat`` calls it a regular file, and then with ``O_NOFOLLOW |
  O_NONBLOCK`` and checked again on the descriptor (it may have been swapped
  in between).  Anything else named ``message*`` (a FIFO, a socket, a device,
  a symlink, a directory) is removed (a directory is renamed out of sight if
  it is not empty) and reported as a :class:`~.base.BadMessage`.
"""

import errno
import os
import stat
import time

from .. import paths
from ..fsutil import ALPHABET, random_chars, unlink_quiet as _unlink_quiet, write_all
from .base import Address, BadAddress, BadMessage, Inbox as _Inbox, Unreachable, check_host
from ..protocol import digits

MESSAGE_PREFIX = "message"
BOX_SUFFIX = ".inbox"
SIGFWD_ALIAS = "sigfwd" + BOX_SUFFIX
DEFAULT_LIMIT = 65536

BoxMissing = Unreachable  # the classic name: the box does not exist

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)


def _clock_chars():
    # 6 base-62 digits of microseconds: wraps every ~15.8 hours, which only
    # matters for two messages published in the same ctime tick at the wrap.
    n = int(time.time() * 1e6) % (62 ** 6)
    out = []
    for _ in range(6):
        n, r = divmod(n, 62)
        out.append(ALPHABET[r])
    return "".join(reversed(out))


# -- where boxes are ----------------------------------------------------------------

def host_dir(host=None):
    """This (or ``host``'s) directory of boxes."""
    return os.path.join(paths.mboxes_root(), check_host(host or paths.hostname()))


def box_path(name, host=None):
    return os.path.join(host_dir(host), name)


def pid_box(pid, host=None):
    return box_path("%d%s" % (pid, BOX_SUFFIX), host)


def has_box_since(pid, since, host=None):
    """Does process ``pid`` own a box here (``PID[TAG].inbox``, TAG digits
    or ``a`` and digits, as :func:`create_pid_box` names them) that changed
    no earlier than ``since`` (epoch seconds)?  A box is made by its owner,
    so one older than the process names an earlier owner of the PID."""
    head = str(pid)
    try:
        names = os.listdir(host_dir(host))
    except (OSError, BadAddress):
        return False
    for name in names:
        if not (name.startswith(head) and name.endswith(BOX_SUFFIX)):
            continue
        tag = name[len(head):-len(BOX_SUFFIX)]
        if tag and not (digits(tag) or (tag[0] == "a" and digits(tag[1:]))):
            continue
        try:
            if os.lstat(box_path(name, host)).st_ctime >= since:
                return True
        except OSError:
            pass
    return False


def sigfwd_box(host=None):
    return box_path(SIGFWD_ALIAS, host)


def process_address(pid, host=None):
    return Address(pid_box(pid, host))


def sigfwd_address(host=None):
    return Address(sigfwd_box(host))


def check_reply(box):
    """Refuse (:class:`BadAddress`) anything but ``G/mboxes/HOST/NAME.inbox``."""
    if "\0" in box or not box.startswith("/"):
        raise BadAddress("not an absolute box path: %r" % box[:200])
    if any(part in (".", "..") for part in box.split("/")):
        raise BadAddress("box path with . or ..: %r" % box[:200])
    hdir, name = os.path.split(os.path.normpath(box))
    if os.path.dirname(hdir) != os.path.normpath(paths.mboxes_root()):
        raise BadAddress("not a box under %s: %r" % (paths.mboxes_root(), box[:200]))
    check_host(os.path.basename(hdir))
    if not name.endswith(BOX_SUFFIX) or name.startswith("."):
        raise BadAddress("not a box name: %r" % name)


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


def wake_target(box):
    """:func:`owner`, but only for a box of this user: nobody else's process
    is woken because some path names its PID."""
    try:
        if not box.startswith("/"):  # a local client may name a box relative to its cwd
            box = os.path.join(os.getcwd(), box)
        check_reply(box)
    except (BadAddress, FileNotFoundError):  # FileNotFoundError: the cwd is gone
        return None
    return owner(box)


# -- creating and removing boxes ------------------------------------------------

def create_box(name, host=None):
    """Create (or reuse) the box ``NAME`` in this host's box directory."""
    d = host_dir(host)
    os.makedirs(d, mode=0o700, exist_ok=True)
    box = os.path.join(d, name)
    try:
        os.mkdir(box, 0o700)
    except FileExistsError:
        # A box left behind by an earlier process with the same PID: its
        # content was addressed to a process that no longer exists.
        for entry in _listdir(box):
            _unlink(os.path.join(box, entry))
        # Its last change must not predate us: a sender takes an owner
        # that started after its box last changed for a stranger at a dead
        # owner's PID (pidref.may_wake), and would not wake us.
        try:
            os.utime(box)
        except OSError:
            pass
    return box


def create_pid_box(pid=None, suffix=""):
    """The box ``PID[SUFFIX].inbox`` of this (or the given) process."""
    return create_box("%d%s%s" % (pid or os.getpid(), suffix, BOX_SUFFIX))


def create_temp_box():
    """A classic temporary box: 8 random characters plus ``.inbox``."""
    d = host_dir()
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


def sweep_dead(log=None):
    """Remove this host's boxes ``PID[.TAG].inbox`` whose PID no process
    has (processes killed with ``kill -9`` leave theirs, and nobody would
    read them); returns how many.  A box whose PID a process has now is
    left alone: it may be that process's.  Aliases and other names are
    never touched."""
    from .. import pidref

    d = host_dir()
    try:
        # A dead forwarder's box is its successor's to take over (what is
        # unread there moves to the new box, become_sigfwd), then remove.
        inherited = os.path.basename(os.readlink(os.path.join(d, SIGFWD_ALIAS)))
    except OSError:
        inherited = None
    removed = 0
    for name in _listdir(d):
        pid = name.split(".", 1)[0]
        if not (name.endswith(BOX_SUFFIX) and digits(pid) and int(pid) > 0):
            continue
        if name == inherited:
            continue
        path = os.path.join(d, name)
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                continue
        except OSError:
            continue
        if pidref.start_time(int(pid)) is not None:
            continue
        remove_box(path)
        if not os.path.lexists(path):
            removed += 1
            if log is not None:
                log("removed box %s, whose process is gone" % name)
    return removed


def exists(box):
    return os.path.isdir(resolve(box))


def changed(box):
    """When the box last changed (ctime), or None."""
    try:
        return os.stat(resolve(box)).st_ctime
    except OSError:
        return None


def become_sigfwd(inbox, inherit=None):
    """Point this host's forwarder alias at ``inbox``.  The box it pointed
    to before belongs to a forwarder that is gone (a crash, a reboot): the
    messages still unread there move to ``inbox`` when ``inherit(text)``
    says so, the rest are dropped, and that box is removed."""
    alias = os.path.join(os.path.dirname(inbox.address), SIGFWD_ALIAS)
    before = resolve(alias) if os.path.islink(alias) else None
    made = Address(create_alias(inbox.address, SIGFWD_ALIAS))
    if before is not None and before != inbox.address and inherit is not None:
        _inherit(before, inbox.address, inherit)
    return made


def _inherit(old, new, keep):
    try:
        waiting = pending(old)
    except OSError:
        return
    for path in waiting:
        try:
            text = consume(path)
        except (OSError, BadMessage):
            continue
        if keep(text):
            send(new, text)
    remove_box(old)


def resign_sigfwd(inbox):
    alias = os.path.join(os.path.dirname(inbox.address), SIGFWD_ALIAS)
    # Only if it is still ours: a new forwarder may already have replaced it.
    if os.path.islink(alias) and resolve(alias) == inbox.address:
        _unlink(alias)


# -- sending -----------------------------------------------------------------------------

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
            fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        except FileNotFoundError:
            raise BoxMissing(box)
        except OSError as e:  # EROFS, EACCES, ENOSPC (no inode left), ...
            raise OSError(e.errno, e.strerror, box) from None
        break
    published = os.path.join(real, MESSAGE_PREFIX + "." + name)
    try:
        try:
            write_all(fd, data)
        finally:
            os.close(fd)  # on NFS, close() may be where ENOSPC shows
        os.rename(hidden, published)
    except BaseException as e:
        # Never leave a hidden half (or empty) message behind in the box.
        _unlink_quiet(hidden)
        if isinstance(e, FileNotFoundError):
            raise BoxMissing(box) from None
        if isinstance(e, OSError) and not e.filename:
            raise OSError(e.errno, e.strerror, box) from None
        raise
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


# -- receiving ---------------------------------------------------------------------------

def pending(box):
    """Visible message entries of ``box``, oldest first (by ctime, then name)."""
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


def consume(path, limit=DEFAULT_LIMIT):
    """Read one message file and remove it; returns the message text.

    Raises :class:`BadMessage` (after removing the entry) for an empty,
    oversized or non-text message or an entry that is not a regular file,
    and ``FileNotFoundError`` when another reader took it first.
    """
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        _reject(path, st.st_mode)
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            _reject(path, st.st_mode)  # swapped for a link or FIFO since the lstat
        _unlink(path)
        raise BadMessage("unreadable message file: %s" % e.strerror)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            _reject(path, st.st_mode)
        # A file that grows after the fstat still cannot get past the read.
        data = os.read(fd, limit + 1) if st.st_size <= limit else None
    finally:
        os.close(fd)
    box, name = os.path.split(path)
    read_name = os.path.join(box, "read." + name)
    os.rename(path, read_name)
    _unlink(read_name)
    if data is None or len(data) > limit:
        raise BadMessage("message larger than %d bytes" % limit)
    data = data.rstrip(b"\n")
    if not data:
        raise BadMessage("empty message")
    if b"\0" in data or b"\n" in data:
        raise BadMessage("message is not one line of text")
    return data.decode("utf-8", "surrogateescape")


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def _reject(path, mode):
    """Take a non-file entry out of the box without opening or following it."""
    what = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    if stat.S_ISDIR(mode):
        try:
            os.rmdir(path)
        except OSError:
            # Not empty: rename it out of sight (a rename never follows).
            d, name = os.path.split(path)
            try:
                os.rename(path, os.path.join(d, ".rejected.%s.%s" % (name, random_chars(4))))
            except OSError:
                pass
    else:
        _unlink(path)
    raise BadMessage("not a message file: %s" % what)


def receive(box, limit=DEFAULT_LIMIT):
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


class Inbox(_Inbox):
    """A box this process receives on.

    ``receive()`` returns the next message text or None when the box is empty;
    one directory listing serves a whole batch.  Bad entries are skipped with
    a log line.  Raises :class:`BoxMissing` when the box itself is gone.
    """

    def __init__(self, box, limit=None, log=None):
        self.address = Address(box)
        self.directory = str(self.address)
        self.limit = limit or DEFAULT_LIMIT
        self._log = log
        self._batch = []
        # Entries that failed for a reason we cannot remove (e.g. no write
        # permission on the box): skipped, so they cannot loop the receiver.
        self._stuck = set()

    def receive(self):
        while True:
            if not self._batch:
                try:
                    listing = pending(self.address)
                    self._stuck.intersection_update(listing)
                    self._batch = [p for p in listing if p not in self._stuck]
                except (FileNotFoundError, NotADirectoryError):
                    raise BoxMissing(self.address) from None
                if not self._batch:
                    return None
            path = self._batch.pop(0)
            try:
                return consume(path, self.limit)
            except FileNotFoundError:
                continue  # withdrawn by its sender, or taken by another reader
            except BadMessage as e:
                self.log("bad message %s discarded: %s" % (os.path.basename(path), e))
            except OSError as e:
                # Never let one entry stop the receiver; it stays for a human.
                self._stuck.add(path)
                self.log("cannot read message %s: %s" % (os.path.basename(path), e))

    def log(self, line):
        if self._log is not None:
            self._log(line)
            return
        from ..log import log

        log(line)

    def close(self):
        remove_box(self.address)

    def refresh(self):
        # NFS attribute caches hide new entries for a while; touching the
        # box refreshes them, as the classic clients do.
        try:
            os.utime(self.address)
        except OSError:
            pass


def open_inbox(pid=None, tag="", limit=None, log=None, sweep=True):
    return Inbox(create_pid_box(pid, "." + tag if tag else ""), limit, log)


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

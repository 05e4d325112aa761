"""Keys and the registry of the System V queue transport (:mod:`.sysv`).

What this module owns, under ``G/var/run/HOST/sysv/`` (mode 0700):

* ``secret``: 64 random bits made once per installation and host (the first
  process to need it links it into place; everyone reads the winner's).
* one *entry* per open queue, named like the inbox's box without
  ``.inbox`` (``PID`` or ``PID.TAG``), holding ``N STARTTIME``: the
  queue's number and the owner's start time (``/proc/PID/stat`` field 22).

Invariants:

* The key of queue ``N`` is a mix of the secret, the user id and ``N``
  (:func:`key`).  Two users, two ``$HOME`` directories of one user and two
  hosts sharing a ``$HOME`` have different secrets (and uids), so their
  keys are unrelated; a key that is taken anyway (``IPC_EXCL`` fails) is
  skipped for ``N + 1``.  Nothing is ever removed that is not named by an
  entry of *this* registry and owned (``cuid``) by this user.
* An entry is written *before* its queue is made, so a process killed at
  any point leaves at most an entry whose queue is missing, never a queue
  nobody knows of.  (The one residue: killed between ``IPC_EXCL`` failing
  for a key that another installation of the same user holds and the
  entry's rewrite for ``N + 1``; :func:`sweep` would then remove that
  other installation's queue.  It needs a ``kill -9`` in a window of
  microseconds *and* a 31-bit key collision.)
* :func:`sweep` removes the queue and entry of every owner that is gone
  (PID dead, or alive with another start time, i.e. reused).  It claims an
  entry by renaming it first, so two sweepers, or a sweeper and a new owner
  with a reused PID, never remove a live queue.  A claim left by a sweeper
  killed before it removed the queue is finished by a later sweep once it
  is ``CLAIM_SECONDS`` old (or given back, should the PID have a live
  owner again), so that queue is not left for ever.

Finding the queue of process ``PID`` is one ``open`` of its entry: no
directory is ever listed except by :func:`sweep`.
"""

import errno
import os
import stat

from .. import paths, pidref
from ..fsutil import random_chars, read_bytes
from ..protocol import digits

SECRET = "secret"
# A sweeper renames an entry to CLAIM + name + "." + 6 characters before it
# removes the queue; a claim older than CLAIM_SECONDS is a killed sweeper's.
CLAIM = ".sweep."
CLAIM_SECONDS = 60.0
_MASK64 = (1 << 64) - 1
_secrets = {}


_dirs = {}


def registry_dir(host=None):
    # Every send and receive finds its key through here: the joins are
    # kept per $HOME and host (a few, so a bound only against the absurd).
    at = (paths.base(), host or paths.hostname())
    found = _dirs.get(at)
    if found is None:
        found = os.path.join(paths.run_dir(host), "sysv")
        if len(_dirs) < 64:
            _dirs[at] = found
    return found


def _mix(x):
    # splitmix64's finaliser: a good spread without importing hashlib
    # (~4 ms of every client's start-up).
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
    x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK64
    return x ^ (x >> 31)


def secret():
    """This installation's and host's secret (made on first use)."""
    d = registry_dir()
    value = _secrets.get(d)
    if value is not None:
        return value
    path = os.path.join(d, SECRET)
    try:
        value = _read_secret(path)
    except (OSError, ValueError):
        value = _make_secret(d, path)
    _secrets[d] = value
    return value


def _make_secret(d, path):
    os.makedirs(d, mode=0o700, exist_ok=True)
    tmp = os.path.join(d, ".secret." + random_chars(8))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, ("%016x\n" % int.from_bytes(os.urandom(8), "big")).encode())
        finally:
            os.close(fd)
        os.link(tmp, path)  # never replaces: the first secret stays
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)  # also when the disk is full: nothing half-written stays
    try:
        return _read_secret(path)
    except ValueError:  # damaged by hand: no keys, a transport error
        raise OSError(errno.EINVAL, "not a secret (no hexadecimal number)", path) from None


def _read_secret(path):
    """The secret stored at ``path``; OSError or ValueError when there is
    none.  Never blocks: a FIFO in its place is no secret."""
    data = read_bytes(path, None, 64)
    if data is None:
        raise OSError(errno.EINVAL, "not a readable regular file", path)
    return int(data.strip(), 16)


_key_of = {}


def key(n):
    """The System V key of queue ``n``: 31 bits, never 0 (IPC_PRIVATE)."""
    # Kept per $HOME, host, user and number: every send and every reply
    # check asks (the secret's look-up was most of a microsecond of each).
    uid = os.geteuid()
    at = (paths.base(), paths.hostname(), uid, n)
    found = _key_of.get(at)
    if found is None:
        found = key_for(secret(), uid, n)
        if len(_key_of) > 1000:  # a daemon meets an endless stream of answer queues
            _key_of.clear()
        _key_of[at] = found
    return found


_keys = {}


def key_for(secret_value, uid, n):
    # Kept: every send and receive of a daemon finds its key here.
    at = (secret_value, uid, n)
    found = _keys.get(at)
    if found is None:
        x = _mix(secret_value ^ _mix((uid << 32) ^ (n & 0xFFFFFFFF)))
        found = (x & 0x7FFFFFFF) or 1
        if len(_keys) > 1000:  # a daemon meets an endless stream of answer queues
            _keys.clear()
        _keys[at] = found
    return found


def registered_keys(run_root):
    """Keys of every queue in the registries under ``run_root``
    (``G/var/run``, all hosts), for clean-up after tests."""
    found = []
    for host in _listdir(run_root):
        d = os.path.join(run_root, host, "sysv")
        try:
            value = _read_secret(os.path.join(d, SECRET))
        except (OSError, ValueError):
            continue
        for name in _listdir(d):
            entry = read_entry(os.path.join(d, name)) if digits(name[:1]) else None
            if entry is not None:
                found.append(key_for(value, os.geteuid(), entry[0]))
    return found


def _listdir(d):
    try:
        return os.listdir(d)
    except OSError:
        return []


MAX_NUMBER = 0x7FFFFFFF


def new_number():
    return int.from_bytes(os.urandom(4), "big") & MAX_NUMBER


# -- owners ------------------------------------------------------------------------

def owner_alive(pid, start):
    now = pidref.start_time(pid)
    if now is None:
        if os.path.isdir("/proc/self"):
            return False
        try:  # no /proc: the PID alone must do
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            pass
        return True
    return start == 0 or now == start


# -- entries ----------------------------------------------------------------------

def entry_path(name, host=None):
    return os.path.join(registry_dir(host), name)


def write_entry(name, n):
    """Record queue ``n`` as owned by this process under ``name``."""
    d = registry_dir()
    path = os.path.join(d, name)
    tmp = os.path.join(d, ".new." + name + "." + random_chars(6))
    data = ("%d %d\n" % (n, pidref.own_start_time() or 0)).encode()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileNotFoundError:
        os.makedirs(d, mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        # A full disk (or a kill) must leave no half-written entry behind.
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_entry(path):
    """``(n, start)`` of an entry, or None (missing, being written, damaged)."""
    # Plain reads of a regular file: no buffer, and a FIFO or a device put
    # in an entry's place cannot block whoever looks the queue up.
    data = read_bytes(path, limit=64)
    if data is None:
        return None
    parts = data.split()
    # ASCII digits only: int() takes "-5", "1_0" and other scripts' digits.
    if len(parts) < 2 or not all(digits(p) for p in parts[:2]):
        return None
    n, start = int(parts[0]), int(parts[1])
    return (n, start) if n <= MAX_NUMBER else None


def lookup(pid, host=None):
    """Queue number of the live process ``pid``'s main inbox, or None."""
    found = read_entry(entry_path(str(pid), host))
    if found is None or not owner_alive(pid, found[1]):
        return None
    return found[0]


def remove_entry(name):
    try:
        os.unlink(entry_path(name))
    except OSError:
        pass  # gone already; or not a file of ours to remove (the sweep passes it over)


def sweep(remove_queue, log=None, remove_box=None):
    """Remove the queues and entries of owners that are gone; returns how
    many.  ``remove_queue(n)`` removes queue ``n`` if it is ours;
    ``remove_box(name)`` the box of inbox ``name``, once no process has
    the owner's PID (another that has it may have made that box its own)."""
    d = registry_dir()
    try:
        names = os.listdir(d)
    except OSError:  # none yet; or something else in its place: nothing to sweep
        return 0
    removed = 0
    for name in names:
        path = os.path.join(d, name)
        if name.startswith(CLAIM):
            removed += _finish_claim(d, name, remove_queue, log, remove_box)
            continue
        if name.startswith("."):
            _drop_stale_temp(path)
            continue
        pid = name.split(".", 1)[0]
        if name == SECRET or not digits(pid):
            continue
        found = read_entry(path)
        if found is not None and owner_alive(int(pid), found[1]):
            continue
        if found is None and not _regular_file(path):
            continue  # no entry ever written (a directory, a FIFO ...): left alone
        # Claim it: only one sweeper gets past the rename.
        claimed = os.path.join(d, "%s%s.%s" % (CLAIM, name, random_chars(6)))
        try:
            os.rename(path, claimed)
        except OSError:
            continue
        found = read_entry(claimed)
        if found is not None and owner_alive(int(pid), found[1]):
            # A new owner with the same PID wrote it since we looked.
            os.rename(claimed, path)
            continue
        if found is not None:
            try:
                if remove_queue(found[0]):
                    removed += 1
                    if log is not None:
                        log("removed queue %d of %s, whose process is gone" % (found[0], name))
            except OSError:
                pass
        _remove_box(remove_box, name, pid)
        try:
            os.unlink(claimed)
        except OSError:
            pass  # _finish_claim tries again
    return removed


def _remove_box(remove_box, name, pid):
    if remove_box is not None and pidref.start_time(int(pid)) is None:
        try:
            remove_box(name)
        except OSError:
            pass


def _regular_file(path):
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _finish_claim(d, claim, remove_queue, log, remove_box=None):
    """Finish the sweep of a sweeper killed between its claim and the
    removal of the queue (else the queue would outlive everything: the
    registry no longer names it).  Only a claim older than CLAIM_SECONDS
    (the rename set its ctime; no sweep takes that long), so a running
    sweeper is never overtaken.  Returns 1 if a queue was removed."""
    import time

    path = os.path.join(d, claim)
    try:
        if time.time() - os.lstat(path).st_ctime <= CLAIM_SECONDS:
            return 0
    except OSError:
        return 0
    name = claim[len(CLAIM):].rpartition(".")[0]
    pid = name.split(".", 1)[0]
    # No sweeper claims an entry whose name is not a PID's: whose queue it
    # names cannot be told, so the queue stays and the claim goes.
    found = read_entry(path) if digits(pid) else None
    if found is not None and owner_alive(int(pid), found[1]):
        # The sweeper was killed after a new owner of the PID wrote it.
        try:
            os.rename(path, os.path.join(d, name))
        except OSError:
            pass
        return 0
    removed = 0
    if found is not None:
        try:
            if remove_queue(found[0]):
                removed = 1
                if log is not None:
                    log("removed queue %d of %s, whose sweep was cut short" % (found[0], name))
        except OSError:
            return 0
    if found is not None:
        _remove_box(remove_box, name, pid)
    try:
        os.unlink(path)
    except OSError:
        pass
    return removed


def _drop_stale_temp(path):
    # Temporary names of a writer killed before its rename (an hour is far
    # beyond any write).
    import time

    try:
        if time.time() - os.lstat(path).st_mtime > 3600:
            os.unlink(path)
    except OSError:
        pass  # gone already, or not ours to remove

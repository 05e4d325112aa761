"""System V message queues for processes on one host (FEATURES.md §9).

The same message strings as the file boxes (:mod:`.mbox`) travel through
one System V queue per inbox instead of a file per message.  Invariants:

* An address of this kind is ``sysv:HOST:NAME:N``: ``NAME`` is what the
  inbox's box would be called without ``.inbox`` (``PID`` or ``PID.TAG``,
  so the owner to wake is known), ``N`` the queue's number, whose key
  :func:`.sysvkeys.key` derives from this installation's secret.  Only an
  address of this host, whose queue exists, is owned (``uid`` and
  ``cuid``) by this user and has mode 0600, is sent to or replied to.
* Every queue inbox also has its box ``G/mboxes/HOST/NAME.inbox``, and
  :meth:`Inbox.receive` empties the queue before it looks into the box.
  The box is where classic clients, other hosts and the fallback write: a
  message longer than ``msgmax`` (``/proc/sys/kernel/msgmax``), or one
  that finds the queue full, is published in the box instead, whole.  A
  sender keeps using the box for an address while its last message there
  is unread, so the messages of one sender are received in the order sent.
* Queues are made ``IPC_CREAT | IPC_EXCL`` with mode 0600 and recorded in
  the registry of :mod:`.sysvkeys` *before* they exist; :meth:`Inbox.close`
  removes queue, box and entry; :func:`sweep` (at the start of every daemon
  but a sputnik, and periodically in the daemons) removes those of
  processes killed with ``kill -9``.
* Withdrawing: every message is sent with a type of its own (the sender's
  PID and a counter of that queue, ``TYPES`` values), so its sender can
  take exactly it back with a non-blocking ``msgrcv`` of that type, while
  receivers take any type in FIFO order.  Types must not repeat while a
  message of ours may be unread there: after ``MAX_UNREAD`` (< ``TYPES``)
  sends since the queue was last seen empty, the queue counts as full
  until it is seen empty again.  A receipt takes nothing back once
  ``TYPES`` more messages went there (its type may name a later one); and
  what a withdrawal takes must be the message sent, else it goes back (a
  dead process of ours with the same PID may have left one of that type),
  and the owner is woken, as its sender did.
* A queue's handle is kept, and checked again (owner, mode) before it is
  used after ``VERIFY_IDLE`` seconds unused: the kernel gives a removed
  queue's id to a new queue only after millions of others, which nobody
  makes within a second, so a handle in use cannot come to name a
  stranger's queue.

No lost wake-up: queues cannot be ``select()``-ed, so a sender always
signals the owner (SIGCONT, :func:`.base.wake_owner`) *after* ``msgsnd``,
exactly as after publishing a file.  The daemons keep SIGCONT blocked and
sleep only in ``sigtimedwait`` (:class:`.wake.Sleeper`), and they drain
every inbox (``msgrcv`` with ``IPC_NOWAIT``, then the box) before they
sleep.  A message that arrives after the drain brings a SIGCONT that is
either still pending when the receiver sleeps (the sleep ends at once) or
arrives during the sleep (it ends the sleep); either way the next drain
sees the message, whichever of the two transports carried it.

The binding is ``sysv_ipc`` (PyPI, a small C extension with wheels;
importing it costs ~0.6 ms, against ~2.5 ms for ``ctypes``, whose
``msqid_ds`` layout would also have to be spelled out per architecture).
Without it, or without kernel support, :func:`open_inbox` raises
:class:`~.base.Unavailable` and the caller falls back to boxes.
"""

import errno
import os
import re
import time

from .. import paths, pidref
from . import mbox, sysvkeys
from .base import (
    Address,
    BadAddress,
    BadMessage,
    Inbox as _Inbox,
    Unavailable,
    Unreachable,
    check_host,
    wake_owner_if_safe,
)

try:
    import sysv_ipc
except ImportError:  # pragma: no cover - the fallback is tested with a fake name
    sysv_ipc = None

PREFIX = "sysv:"
TYPES = 511
MAX_UNREAD = 500
_ADDRESS = re.compile(r"sysv:([^:]+):([0-9]+(?:\.[A-Za-z0-9_-]+)?):([0-9]{1,10})\Z")
_GONE = (errno.EINVAL, errno.EIDRM, errno.ENOENT)
_FULL = (errno.ENOSPC, errno.EDQUOT)

VERIFY_IDLE = 1.0
# Seconds between two tries to make a removed queue of ours again while
# the disk is full (its registry entry cannot be written): the box serves.
RENEW_RETRY = 10.0
# Handles kept before those of empty or removed queues are dropped.
MAX_HANDLES = 1024


class _Handle:
    """A verified queue of this sender: ``used``, when last used
    (monotonic); ``fresh``, messages sent there since it was last seen
    empty (or since the handle was made: a handle goes only with its queue
    empty or gone), all of which may be unread; ``counter``, of the
    message types sent there."""

    __slots__ = ("queue", "used", "fresh", "counter")

    def __init__(self, queue, now):
        self.queue, self.used, self.fresh, self.counter = queue, now, 0, 0


_handles = {}  # key -> _Handle
_prune_at = 0  # handles kept before the next prune (at least MAX_HANDLES)
_parsed = {}  # address -> (host, name, n)
_in_box = {}  # address -> path of our last fallback message there
_msgmax = None


def msgmax():
    """The kernel's largest queue message (8192 unless changed)."""
    global _msgmax
    if _msgmax is None:
        try:
            with open("/proc/sys/kernel/msgmax") as f:
                _msgmax = int(f.read())
        except (OSError, ValueError):
            _msgmax = 8192
    return _msgmax


def available():
    return sysv_ipc is not None


# -- addresses -------------------------------------------------------------------

def make_address(name, n, host=None):
    return Address("%s%s:%s:%d" % (PREFIX, host or paths.hostname(), name, n))


def parse(address):
    """``(host, name, n)`` of a well-formed address; BadAddress otherwise."""
    found = _parsed.get(address)
    if found is not None and found[0] == paths.hostname():
        return found
    m = _ADDRESS.match(address)
    if m is None:
        raise BadAddress("not a queue address: %r" % address[:200])
    host, name, n = m.group(1), m.group(2), int(m.group(3))
    check_host(host)
    if host != paths.hostname():
        raise BadAddress("a queue of another host: %r" % address[:200])
    if len(_parsed) > 1000:  # a daemon meets an endless stream of answer inboxes
        _parsed.clear()
    _parsed[address] = found = (host, name, n)
    return found


def box_of(address):
    _, name, _ = parse(address)
    return mbox.box_path(name + mbox.BOX_SUFFIX)


def process_address(pid, host=None):
    """The queue of process ``pid`` when it has one on this host; its box
    otherwise (another host, a classic or file-transport process)."""
    if (host is None or host == paths.hostname()) and available():
        n = sysvkeys.lookup(pid)
        if n is not None:
            return make_address(str(pid), n)
    return mbox.process_address(pid, host)


def sigfwd_address(host=None):
    # The forwarder's well-known address is its box alias: it is there for
    # other hosts, which only boxes reach.
    return mbox.sigfwd_address(host)


def check_reply(address):
    """Refuse anything but a queue of ours (one that exists must be owned
    by this user with mode 0600; a missing one fails at send)."""
    _, _, n = parse(address)
    try:
        _open(n)
    except Unreachable:
        pass


_owners = {}  # address -> pidref.Recorded start of the owner its entry names


def changed(address):
    """The start time its registry entry records for the queue's owner (a
    :class:`.pidref.Recorded`, for :func:`.base.may_wake`): only the process
    with exactly that start is woken, whatever the wall clock did since the
    queue was made; ``Recorded(-1)`` (nobody) when no entry names this
    queue.  Kept per address: an address names one queue of one owner."""
    found = _owners.get(address)
    if found is not None:
        return found
    try:
        host, name, n = parse(address)
    except BadAddress:
        return None
    entry = sysvkeys.read_entry(sysvkeys.entry_path(name, host))
    if entry is None or entry[0] != n:
        return pidref.Recorded(-1)
    found = pidref.Recorded(entry[1])
    if len(_owners) > 1000:
        _owners.clear()
    _owners[address] = found
    return found


def wake_target(address):
    try:
        host, name, _ = parse(address)
    except BadAddress:
        return None
    return host, name.split(".", 1)[0]


# -- queues -------------------------------------------------------------------------

def _verify(queue):
    """``queue`` if it is a private queue of ours; BadAddress if not (one
    we may not even look at included); ExistentialError once removed."""
    uid = os.geteuid()
    try:
        ours = queue.uid == uid and queue.cuid == uid and queue.mode & 0o777 == 0o600
    except sysv_ipc.PermissionsError:
        ours = False
    if not ours:
        raise BadAddress("queue %d is not a private queue of ours" % queue.key)
    return queue


def _open(n):
    """The verified queue ``n``: Unreachable when it does not exist,
    BadAddress when it is not ours."""
    return _handle(n).queue


def _handle(n):
    if sysv_ipc is None:
        raise Unreachable("System V queues are not available (no sysv_ipc)")
    k = sysvkeys.key(n)
    now = time.monotonic()
    found = _handles.get(k)
    if found is not None and now - found.used <= VERIFY_IDLE:
        found.used = now
        return found
    # New, or unused for a while: the key's queue now, looked up and checked
    # (its id may since have gone to another queue, of ours or a stranger's).
    try:
        queue = _verify(sysv_ipc.MessageQueue(k, 0, 0o600, msgmax()))
    except sysv_ipc.ExistentialError:
        if found is not None:
            _forget(found.queue)  # gone, and with it whatever was unread
        raise Unreachable("queue %d does not exist" % n) from None
    except sysv_ipc.PermissionsError:
        raise BadAddress("queue %d is not ours" % n) from None
    # Not ours (BadAddress above): the handle stays, with its counter, for
    # when it is ours again.
    if found is not None and found.queue.id == queue.id:
        found.used = now
        return found
    return _keep(queue, now)


def _keep(queue, now):
    global _prune_at
    if len(_handles) >= max(MAX_HANDLES, _prune_at):
        _prune()
        # Queues that keep messages of ours unread stay: the next prune
        # waits until as many new ones have come, not one more.
        _prune_at = 2 * len(_handles)
    found = _handles[queue.key] = _Handle(queue, now)
    return found


def _prune():
    """Drop the handles of queues that are gone or empty: nothing of ours
    is unread there, so their type counters may start again."""
    for k, found in list(_handles.items()):
        try:
            if found.queue.current_messages:
                continue
        except sysv_ipc.PermissionsError:
            continue  # out of reach for now: what is unread there is unknown
        except (sysv_ipc.Error, OSError):
            pass
        del _handles[k]


def _stat(queue):
    """IPC_STAT: how many messages wait; raises once the queue is gone."""
    return queue.current_messages


def _forget(queue):
    _handles.pop(queue.key, None)


def remove_queue(n):
    """Remove queue ``n`` if it exists and is ours; True if removed."""
    try:
        queue = _open(n)
    except (Unreachable, BadAddress):
        return False
    _forget(queue)
    try:
        queue.remove()
    except (sysv_ipc.ExistentialError, OSError):
        return False
    return True


def exists(address):
    if sysv_ipc is None:
        return False
    queue = None
    try:
        _, _, n = parse(address)
        queue = _open(n)
        _stat(queue)
    except (BadAddress, Unreachable, sysv_ipc.PermissionsError):
        return False
    except (sysv_ipc.Error, OSError):
        if queue is not None:
            _forget(queue)
        return False
    return True


# -- sending -------------------------------------------------------------------------------

def _next_type(handle):
    # Types are C ints here: 22 bits of PID, 9 of the queue's counter,
    # never 0.  One counter per queue: what may be unread is bounded per
    # queue (_full), not what was sent to others since.
    # The counter moves once the message is sent (a refused send spends
    # no type: types must not wrap onto one still unread).
    return ((pidref.own_pid() & 0x3FFFFF) << 9) | ((handle.counter + 1) % TYPES + 1)


def send(address, message):
    """Publish ``message``; returns the token :func:`withdraw` takes."""
    address = Address(address)
    _, _, n = parse(address)
    data = message.encode("utf-8", "surrogateescape")
    for attempt in (0, 1):
        try:
            handle = _handle(n)
        except Unreachable:
            if not _served_by_box(address):
                raise
            break
        queue = handle.queue
        try:
            if not _box_first(address, handle, data):
                mtype = _next_type(handle)
                try:
                    queue.send(data, block=False, type=mtype)
                except sysv_ipc.BusyError:
                    pass  # full: the box takes it
                else:
                    handle.counter += 1
                    handle.fresh += 1
                    return ("q", n, mtype, handle, handle.counter, data, address)
            _stat(queue)  # still there?  Then its box is too.
            break
        except sysv_ipc.ExistentialError:
            _forget(queue)
        except sysv_ipc.PermissionsError:
            # Out of reach: the handle and its counter stay, for when it
            # is ours again (messages of ours may be unread there).
            raise BadAddress("queue %d is not ours" % n) from None
        except OSError as e:
            if e.errno not in _GONE:
                raise
            _forget(queue)  # removed, maybe made again: look once more
        if attempt:
            if not _served_by_box(address):
                raise Unreachable(address)
            break
    published = mbox.send(box_of(address), message)
    _in_box[address] = published
    return ("b", published)


def _served_by_box(address):
    """The queue is gone but its inbox is not (``ipcrm``; its owner makes
    the queue again, under its number, and reads the box meanwhile): the
    owner's registry entry still names this queue.  A closing inbox
    removes its entry first; a later inbox of that name (a new process
    with the PID) records another number."""
    _, name, n = parse(address)
    entry = sysvkeys.read_entry(sysvkeys.entry_path(name))
    return entry is not None and entry[0] == n and sysvkeys.owner_alive(int(name.split(".", 1)[0]), entry[1])


def _box_first(address, handle, data):
    if len(data) > msgmax() or _full(handle):
        return True
    published = _in_box.get(address)
    if published is None:
        return False
    if os.path.lexists(published):
        return True  # our previous message there is unread: keep the order
    del _in_box[address]
    return False


def _full(handle):
    """Could a type of ours repeat while unread?  After MAX_UNREAD sends
    since the queue was last seen empty, it counts as full until it is
    seen empty again (IPC_STAT only then: other senders' messages have
    other types, and withdrawals free no types)."""
    if handle.fresh < MAX_UNREAD:
        return False
    if _stat(handle.queue):
        return True
    handle.fresh = 0
    return False


def withdraw(token):
    if token[0] == "b":
        return mbox.withdraw(token[1])
    _, n, mtype, sent_by, counter, data, address = token
    if sysv_ipc is None:
        return False
    try:
        handle = _handle(n)
    except (Unreachable, BadAddress, sysv_ipc.Error, OSError):
        return False
    # Another handle (its queue was emptied or gone), or TYPES sends
    # since: the type may name a later message of ours.
    if handle is not sent_by or handle.counter - counter >= TYPES:
        return False
    put_back = False
    try:
        # An older message of that type may come first: a dead process of
        # ours with the same PID left it.  It goes back (behind ours, which
        # the second look takes).
        for _look in range(2):
            try:
                taken, _ = handle.queue.receive(block=False, type=mtype)
            except (sysv_ipc.Error, OSError):
                return False
            if taken == data:
                return True
            _put_back(handle.queue, taken, mtype, address)
            put_back = True
        return False
    finally:
        if put_back:
            # Its reader may have looked while it was out: wake it, as
            # its sender did.
            try:
                wake_owner_if_safe(address, changed(address))
            except OSError:  # TransportError included
                pass


def _put_back(queue, data, mtype, address):
    """Return a message taken by mistake; never lose it: the box takes it
    when the queue cannot."""
    try:
        queue.send(data, block=False, type=mtype)
        return
    except (sysv_ipc.Error, OSError):
        pass
    try:
        mbox.send(box_of(address), data.decode("utf-8", "surrogateescape"))
    except (OSError, BadAddress):
        pass  # neither the queue nor its box is there: nobody would read it


# -- receiving ----------------------------------------------------------------------------

def decode(data, limit):
    if len(data) > limit:
        raise BadMessage("message larger than %d bytes" % limit)
    if not data:
        raise BadMessage("empty message")
    if b"\0" in data or b"\n" in data:
        raise BadMessage("message is not one line of text")
    return data.decode("utf-8", "surrogateescape")


class Inbox(_Inbox):
    """A queue and its box; the queue is emptied first.  ``receive()`` never
    blocks and raises :class:`Unreachable` once either is gone."""

    def __init__(self, address, queue, box, limit=None, log=None, n=None):
        self.address = address
        self.queue = queue
        self.box = box  # the mbox.Inbox of NAME.inbox
        self.directory = box.directory
        self.limit = limit or mbox.DEFAULT_LIMIT
        self._log = log
        self._n = n  # set when this process made the queue (close removes it)
        self._renew_at = None  # when to try again to make a removed queue

    @classmethod
    def attach(cls, address, limit=None, log=None):
        """Receive on an existing inbox of another process."""
        _, _, n = parse(address)
        return cls(Address(address), _open(n), mbox.Inbox(box_of(address), limit, log), limit, log)

    def receive(self):
        if self._renew_at is not None and time.monotonic() >= self._renew_at:
            self._make_again()
        while self.queue is not None:
            try:
                data, _ = self.queue.receive(block=False)
            except sysv_ipc.BusyError:
                break
            except sysv_ipc.ExistentialError:
                self._queue_gone()
                continue
            except OSError as e:
                if e.errno not in _GONE:
                    raise
                self._queue_gone()
                continue
            try:
                return decode(data, self.limit)
            except BadMessage as e:
                self.box.log("bad message from queue %s discarded: %s" % (self.address, e))
        return self.box.receive()

    def _queue_gone(self):
        """Our queue was removed under us (``ipcrm``): made again, under its
        number when that is free; what senders published meanwhile is in
        the box, read next.  None can be made: the box alone from now on.
        Another process's queue (attached): Unreachable."""
        if self._n is None:
            raise Unreachable(self.address)
        _forget(self.queue)
        self.queue = None
        self._make_again()

    def _make_again(self):
        before = self.address
        self._renew_at = None
        try:
            self.renew()
        except Unavailable as e:
            self.box.log("queue %s removed, and no new one: %s; receiving on its box" % (before, e))
            return
        except OSError as e:
            # A full disk (the registry entry cannot be written): senders
            # find the old entry, its queue gone, and publish in the box.
            # Never out of receive(): a daemon would end.
            self._renew_at = time.monotonic() + RENEW_RETRY
            self.box.log("queue %s removed, and no new one yet: %s; receiving on its box"
                         % (before, e.strerror or e))
            return
        self.box.log("queue %s removed; receiving on %s" % (before, self.address))

    def refresh(self):
        self.box.refresh()

    def address_for(self, to):
        # A classic client, another host or a file-transport process wrote
        # to the box: it gets the box, the classic answer's sender field.
        return self.address if Address(to).kind == self.address.kind else self.box.address

    def renew(self):
        """A new queue for this inbox of ours, whose queue is gone (removed
        by ``ipcrm``, or by a sweep misled by a forged entry): the box and
        what waits there stay.  :class:`Unavailable` when none can be made."""
        name = self.address.split(":")[2]
        # Its number again if it is free (it is, unless its key was taken
        # since): the address stays, and senders that hold it reach the
        # new queue.
        self._n, self.queue = _new_queue(name, self._n)
        self.address = make_address(name, self._n)

    def close(self):
        if self._n is None:
            return
        # Entry, then queue: from then on senders get Unreachable, also for
        # the box (with an entry, a sender takes a missing queue for one
        # being made again and uses the box).
        sysvkeys.remove_entry(self.address.split(":")[2])
        remove_queue(self._n)
        self.box.close()


def open_inbox(pid=None, tag="", limit=None, log=None, sweep=True):
    """A new queue (and its box) for this process; see the module invariants.
    A main inbox (no ``tag``) sweeps first, unless ``sweep`` is False: a
    sputnik starts per job, and the controller, the forwarder and every
    daemon's timer sweep already.  Whatever keeps the registry from
    working (not a directory, not writable) is :class:`Unavailable`: the
    caller falls back to a box."""
    if sysv_ipc is None:
        raise Unavailable("the Python module sysv_ipc is not installed")
    pid = pid or os.getpid()
    name = "%d.%s" % (pid, tag) if tag else str(pid)
    if sweep and not tag:
        try:
            _sweep_gone()
        except OSError as e:
            raise Unavailable("cannot sweep the queue registry: %s" % e) from None
    old = sysvkeys.read_entry(sysvkeys.entry_path(name))
    if old is not None:
        remove_queue(old[0])  # an earlier process of this PID left it
    box = mbox.Inbox(mbox.create_box(name + mbox.BOX_SUFFIX), limit, log)
    try:
        n, queue = _new_queue(name)
    except Unavailable:
        box.close()
        raise
    return Inbox(make_address(name, n), queue, box, limit, log, n=n)


def _new_queue(name, n=None):
    """``(n, queue)``: a new private queue, recorded under ``name`` first;
    number ``n`` if given and free."""
    if n is None:
        n = sysvkeys.new_number()
    for _ in range(1000):
        try:
            sysvkeys.write_entry(name, n)
        except OSError as e:
            if e.errno in _FULL:
                raise  # a full disk is the user's to hear of (exit 79), not a reason to use boxes
            # A registry that is not a directory, or may not be written ...
            raise Unavailable("cannot record a System V queue: %s" % e) from None
        try:
            queue = sysv_ipc.MessageQueue(sysvkeys.key(n), sysv_ipc.IPC_CREX, 0o600, msgmax())
        except sysv_ipc.ExistentialError:
            n = (n + 1) & sysvkeys.MAX_NUMBER  # a key somebody else holds
            continue
        except (OSError, sysv_ipc.Error) as e:
            # ENOSPC (msgmni queues in use), ENOSYS (no System V IPC) ...
            sysvkeys.remove_entry(name)
            raise Unavailable("cannot make a System V queue: %s" % e) from None
        _keep(queue, time.monotonic())
        return n, queue
    sysvkeys.remove_entry(name)
    raise Unavailable("no free System V queue key")


def sweep(log=None):
    """Remove the queues of processes that are gone; returns how many."""
    return _sweep_gone(log)


def _sweep_gone(log=None):
    if sysv_ipc is None:
        return 0
    if log is None:
        from ..log import log
    return sysvkeys.sweep(remove_queue, log, _remove_box)


def _remove_box(name):
    mbox.remove_box(mbox.box_path(name + mbox.BOX_SUFFIX))


def become_sigfwd(inbox, inherit=None):
    return mbox.become_sigfwd(inbox.box, inherit)


def resign_sigfwd(inbox):
    mbox.resign_sigfwd(inbox.box)

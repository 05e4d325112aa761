"""The transport seam: addresses, inboxes, sending, withdrawing, waking.

Everything outside this package talks to other processes through the names
defined here and never learns how a message travels (a file in a box
directory, PROTOCOL.md §2, or a System V queue on one host, FEATURES.md §9).
Invariants:

* An :class:`Address` *is* its wire form: the text that travels after the
  ``;`` of a message.  Its ``kind`` says which transport carries it; an
  implementation module ``gsatellite.transport.KIND`` provides
  ``send/withdraw/exists/wake_target/check_reply/process_address/sigfwd_address/
  open_inbox/become_sigfwd/resign_sigfwd`` for it.
* An :class:`Inbox` never blocks: ``receive()`` returns one message text or
  None, skips (and logs) whatever is not a valid message, and raises
  :class:`Unreachable` only when the inbox itself is gone.
* A reply goes only to an address :func:`reply_address` accepts, and a
  wake-up only to a process whose address names a valid host and a positive
  PID; anything else is refused before a byte is written or a signal sent.
* Host names that become parts of addresses pass :func:`valid_host`.
* The setting ``transport`` (``file`` or ``sysv``) chooses the kind of this
  process's own inboxes and of the addresses :func:`process_address` gives
  for processes of this host; an address's kind never depends on it, so
  processes with either setting (and classic ones, boxes only) talk to each
  other.  A ``sysv`` that cannot work here falls back to boxes, with one
  line in a daemon's log and nothing for a client's user.
"""

import sys

from .. import config, paths, pidref, protocol
from . import wake as _wake
from ..protocol import digits

MBOX = "mbox"
SYSV = "sysv"
DEFAULT_KIND = MBOX
_IMPLEMENTATIONS = {MBOX: "gsatellite.transport.mbox", SYSV: "gsatellite.transport.sysv"}
# Values of the ``transport`` setting -> kind.
SETTINGS = {"file": MBOX, "sysv": SYSV}
_warned = set()



class TransportError(OSError):
    """A message could not be sent or received."""


class Unreachable(TransportError):
    """The address (the box, the queue) does not exist (classic code 2)."""


class BadAddress(TransportError, ValueError):
    """Text that is not an address we may send to, or a host name that
    cannot become part of one."""


class Unavailable(TransportError):
    """This transport cannot work here (no binding, no kernel support)."""


class BadMessage(TransportError):
    """An entry of an inbox that is not one valid message; it is skipped."""


class Address(str):
    """A place messages go to.  It is a ``str`` holding the wire form, so it
    travels in messages, compares and hashes as that text."""

    __slots__ = ()

    @property
    def kind(self):
        # Other transports carry a prefix ("sysv:..."); everything else is
        # a box path (relative ones too, as a user may type them).
        prefix, sep, _ = self.partition(":")
        return prefix if sep and prefix in _IMPLEMENTATIONS else MBOX


# What send() returns: withdraw() needs the address's transport and the
# transport's own token for the published message.
# A plain tuple subclass, not collections.namedtuple: importing collections
# costs every client a millisecond of start-up.
class Receipt(tuple):
    __slots__ = ()

    def __new__(cls, address, token):
        return tuple.__new__(cls, (address, token))

    @property
    def address(self):
        return self[0]

    @property
    def token(self):
        return self[1]

    def __repr__(self):
        return "Receipt(address=%r, token=%r)" % self


class Inbox:
    """Where one process receives; ``address`` is what senders use."""

    address = None
    # The directory of the file box in it (what processes of other hosts
    # publish into), or None.
    directory = None

    def receive(self):
        """One message text, or None when nothing is waiting; never blocks."""
        raise NotImplementedError

    def close(self):
        """Remove the inbox and whatever it still holds."""
        raise NotImplementedError

    def refresh(self):
        """Called by a receiver that polls, before it sleeps again."""

    def address_for(self, to):
        """Our address as a message to ``to`` names it (``COMMAND;FROM``):
        one that ``to``'s sender can reach back, e.g. a box for a box."""
        return self.address


_modules = {}


def _impl(kind):
    module = _modules.get(kind)
    if module is None:
        try:
            name = _IMPLEMENTATIONS[kind]
        except KeyError:
            raise BadAddress("no transport for address kind %r" % kind) from None
        # __import__ rather than importlib, which a client need not load.
        __import__(name)
        module = _modules[kind] = sys.modules[name]
    return module


def address(text):
    """``text`` (a wire form, or an Address) as an :class:`Address`."""
    if isinstance(text, Address):
        return text
    if not isinstance(text, str) or not text:
        raise BadAddress("empty address")
    return Address(text)


_valid_hosts = set()


def valid_host(host):
    """True if ``host`` is a host name that may become part of an address:
    nothing that could be read as a path (no "/", no ".", no "..")."""
    if not isinstance(host, str):
        return False
    if host in _valid_hosts:
        return True
    if not config.valid_hostname(host):
        return False
    # Asked twice per message: the few names seen are remembered (a bound
    # only against a flood of made-up ones).
    if len(_valid_hosts) < 64:
        _valid_hosts.add(host)
    return True


def check_host(host):
    """``host`` itself, or :class:`BadAddress` with a clear reason."""
    if not valid_host(host):
        raise BadAddress("invalid host name %r" % (host,))
    return host


def configured_kind():
    """The kind the ``transport`` setting asks for; an unknown value means
    boxes (a daemon says so in its log, see :func:`open_inbox`)."""
    return SETTINGS.get(config.get("transport").strip().lower(), MBOX)


def _warn_once(what, line):
    # Only daemons call this: their stdout is their log file, while a
    # client's stdout is its output and its user cannot act on it.
    if what not in _warned:
        _warned.add(what)
        from ..log import log

        log(line)


# -- well-known addresses and own inboxes -------------------------------------

def process_address(pid, host=None, kind=None):
    """The inbox of process ``pid`` on ``host`` (this host by default)."""
    if host is not None:
        check_host(host)
    return _impl(kind or configured_kind()).process_address(int(pid), host)


def sigfwd_address(host=None, kind=None):
    """The inbox of ``host``'s signal forwarder."""
    if host is not None:
        check_host(host)
    return _impl(kind or configured_kind()).sigfwd_address(host)


def open_inbox(pid=None, tag="", limit=None, log=None, kind=None, sweep=True):
    """This process's inbox (``tag`` tells several of one process apart);
    whatever an earlier process of the same PID left in it is dropped.
    ``log(line)`` reports skipped entries (default: the daemon log).
    ``sweep=False``: the main inbox of a process that leaves the clean-up
    after ``kill -9`` to the long-lived daemons (a sputnik, one per job).
    A kind that cannot work here falls back to a box (see the module)."""
    if kind is None:
        kind = configured_kind()
        value = config.get("transport").strip().lower()
        if log is None and value not in SETTINGS:
            _warn_once("setting", "unknown setting transport=%r; using file message boxes" % value)
    try:
        return _impl(kind).open_inbox(pid, tag, limit, log, sweep=sweep)
    except Unavailable as e:
        if log is None:
            _warn_once(kind, "%s; using file message boxes" % e)
        return _impl(MBOX).open_inbox(pid, tag, limit, log)


def answer_kind(to):
    """The kind of an answer inbox for a request to ``to``: a box for a box
    (its owner may be a classic process, or on another host), else ours."""
    try:
        return MBOX if address(to).kind == MBOX else None
    except BadAddress:
        return None


def sweep():
    """Remove what processes of this host that are gone left behind in the
    configured transport (System V queues of processes killed with kill -9)."""
    kind = configured_kind()
    if kind == MBOX:
        return 0
    return _impl(kind).sweep()


def become_sigfwd(inbox, inherit=None):
    """Make ``inbox`` this host's signal forwarder; returns the alias.  What
    a gone forwarder left unread moves over when ``inherit(text)`` is true."""
    return _impl(inbox.address.kind).become_sigfwd(inbox, inherit)


def resign_sigfwd(inbox):
    """Undo :func:`become_sigfwd` unless another forwarder took over."""
    _impl(inbox.address.kind).resign_sigfwd(inbox)


# -- sending -------------------------------------------------------------------------

def send(to, text):
    """Publish one message; returns a :class:`Receipt` for :func:`withdraw`.
    Raises :class:`Unreachable`, :class:`BadAddress` or OSError."""
    to = address(to)
    return Receipt(to, _impl(to.kind).send(to, text))


def withdraw(receipt):
    """Take back a message nobody has read: True; False once a reader has it."""
    return _impl(receipt.address.kind).withdraw(receipt.token)


def exists(to):
    try:
        to = address(to)
        return _impl(to.kind).exists(to)
    except BadAddress:
        return False


def reply_address(text):
    """The address a reply to a message may go to, or :class:`BadAddress`.

    Only inboxes of this user's processes qualify; a message naming any
    other place (``ALIVE?;/etc``) must not make us write there."""
    to = address(text)
    _impl(to.kind).check_reply(to)
    return to


_owners = {}
_SYSV_PREFIX = SYSV + ":"


def owner(to):
    """``(host, pid)`` of the process that receives on ``to``, or None when
    the address does not name one (then nobody may be woken for it)."""
    # A queue address's owner is in its text (and this host's name): kept,
    # as a daemon asks at every answer.  A box's is not (a relative path,
    # a box that must still be ours): looked at every time.
    if not (isinstance(to, str) and to.startswith(_SYSV_PREFIX)):
        return _owner(to)
    at = (paths.hostname(), to)
    found = _owners.get(at)
    if found is None:
        found = _owner(to) or ()
        if len(_owners) > 1000:
            _owners.clear()
        _owners[at] = found
    return found or None


def _owner(to):
    try:
        to = address(to)
        found = _impl(to.kind).wake_target(to)
    except BadAddress:
        return None
    if found is None:
        return None
    host, pid = found
    pid = _wake.positive_pid(pid) if digits(pid) else None
    if not valid_host(host) or pid is None:
        return None
    return host, pid


# -- waking ---------------------------------------------------------------------------

def signal_process(host, pid, sig=_wake.WAKE):
    """Deliver ``sig`` to ``pid`` on ``host``: True if it was delivered here;
    for another host, the :class:`Receipt` of the message handed to its
    signal forwarder (true as well), which :func:`withdraw` takes back and
    so tells whether the forwarder ever read it; False on failure."""
    if host == paths.hostname():
        return _wake.kill(pid, sig)
    pid = _wake.positive_pid(pid)
    if pid is None:
        return False
    try:
        return send(sigfwd_address(host), protocol.forward_signal(_wake.signal_name(sig), pid))
    except OSError:  # TransportError included
        return False


def changed(to):
    """When ``to`` last changed (seconds since the epoch), or None; taken
    before publishing, it is what :func:`wake_owner` checks the owner by."""
    try:
        to = address(to)
        return _impl(to.kind).changed(to)
    except (BadAddress, AttributeError):
        return None


def wake_owner(to):
    """Wake the process receiving on ``to`` after publishing there; a
    receiver that polls (or an address without a PID) is left alone.
    Returns what :func:`signal_process` returns."""
    found = owner(to)
    if found is None:
        return False
    return signal_process(found[0], found[1], _wake.WAKE)


def wake_owner_if_safe(to, changed):
    """:func:`wake_owner` when :func:`may_wake` allows it, the owner looked
    up once (a daemon answers every request this way)."""
    found = owner(to)
    if found is None:
        return False
    if found[0] == paths.hostname():
        return pidref.signal_owner(found[1], changed, _wake.WAKE)
    return signal_process(found[0], found[1], _wake.WAKE)


def may_wake(to, changed):
    """May the owner of ``to`` be woken?  ``changed``: :func:`changed` of
    ``to`` before publishing.  The owner made its box after it started, so
    a local process that started later holds the PID of a dead owner."""
    found = owner(to)
    return found is None or found[0] != paths.hostname() or pidref.may_wake(found[1], changed)

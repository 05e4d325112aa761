"""How processes reach each other: addresses, inboxes, send, withdraw, wake.

Import the names from here; :mod:`.base` defines them, :mod:`.mbox` is the
file message box transport, :mod:`.wake` the signal helpers and
:mod:`.request` the client side of request/reply.
"""

from .base import (  # noqa: F401  (the package's interface)
    Address,
    BadAddress,
    BadMessage,
    Inbox,
    Receipt,
    TransportError,
    Unreachable,
    address,
    become_sigfwd,
    changed,
    check_host,
    exists,
    may_wake,
    open_inbox,
    owner,
    process_address,
    reply_address,
    resign_sigfwd,
    send,
    signal_process,
    sigfwd_address,
    valid_host,
    wake_owner,
    withdraw,
)

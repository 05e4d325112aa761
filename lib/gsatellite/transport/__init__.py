"""How processes reach each other: addresses, inboxes, send, withdraw, wake.

Import the names from here; :mod:`.base` defines them, :mod:`.mbox` is the
file message box transport, :mod:`.sysv` the System V queue transport (keys
and registry in :mod:`.sysvkeys`), :mod:`.wake` the signal helpers and
:mod:`.request` the client side of request/reply.
"""

from .base import (  # noqa: F401  (the package's interface)
    Address,
    BadAddress,
    BadMessage,
    Inbox,
    Receipt,
    TransportError,
    Unavailable,
    Unreachable,
    address,
    answer_kind,
    become_sigfwd,
    changed,
    check_host,
    configured_kind,
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
    sweep,
    valid_host,
    wake_owner,
    wake_owner_if_safe,
    withdraw,
)

"""System V queues (gsatellite.transport.sysv), in-process, on real queues.

Covers: keys that two $HOMEs, two hosts sharing a $HOME and two users
cannot confuse, and a key somebody else holds is skipped; replies and sends
only to private queues of ours (mode 0600, our uid) on this host; another
user can neither open nor write to our queues (a child that drops to uid
65534 tries); messages over msgmax and messages that find the queue full
arrive whole and in order (through the box); close() removes queue, box
and registry entry; queues of a process killed with kill -9 are removed
by the next sweep (and a daemon's start), a live one's never; with the
binding missing, ``transport = sysv`` falls back to boxes with one log
line.  The transport contract (tests/contract) runs against it too.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest

from gsatellite import paths, transport
from gsatellite.transport import base, mbox, sysv, sysvkeys

from contract.test_transport_contract import drain
from contract.transports import forget, remove_queues, use_temp_home

sysv_ipc = pytest.importorskip("sysv_ipc")

HOST = "unit.example.org"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    use_temp_home(monkeypatch, tmp_path, HOST)
    monkeypatch.setenv("GSAT_TRANSPORT", "sysv")
    yield tmp_path
    remove_queues(str(tmp_path / ".gsatellite"))
    forget()


@pytest.fixture
def inboxes():
    made = []

    def make(tag="t", pid=None, limit=None, log=None):
        inbox = transport.open_inbox(pid, tag=tag, limit=limit, log=log)
        made.append(inbox)
        return inbox

    yield make
    for inbox in made:
        inbox.close()


def kernel_keys():
    """Keys of every System V queue on this machine."""
    with open("/proc/sysvipc/msg") as f:
        rows = f.read().splitlines()[1:]
    return {int(row.split()[0]) for row in rows}


def in_child(fn):
    """``fn()`` in a forked child; returns its exit status (0: fn returned True)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            code = 0 if fn() else 1
        except BaseException:
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# -- keys ---------------------------------------------------------------------------------

def test_keys_differ_between_homes_hosts_and_users(home, tmp_path, monkeypatch):
    here = [sysvkeys.key(n) for n in range(50)]
    assert len(set(here)) == 50 and all(0 < k < 2 ** 31 for k in here)
    monkeypatch.setenv("GSAT_HOSTNAME", "other.example.org")  # same $HOME, another host
    forget()
    other_host = [sysvkeys.key(n) for n in range(50)]
    monkeypatch.setenv("GSAT_HOSTNAME", HOST)
    monkeypatch.setenv("HOME", str(tmp_path / "second-home"))
    forget()
    other_home = [sysvkeys.key(n) for n in range(50)]
    monkeypatch.setenv("HOME", str(tmp_path))
    forget()
    assert [sysvkeys.key(n) for n in range(50)] == here  # the secret is kept
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    other_user = [sysvkeys.key(n) for n in range(50)]
    for keys in (other_host, other_home, other_user):
        assert not set(keys) & set(here)


def test_a_key_somebody_else_holds_is_skipped_and_left_alone(inboxes, monkeypatch):
    n = 12345
    foreign = sysv_ipc.MessageQueue(sysvkeys.key(n), sysv_ipc.IPC_CREX, 0o644)
    try:
        monkeypatch.setattr(sysvkeys, "new_number", lambda: n)
        inbox = inboxes()
        assert inbox.address.endswith(":%d" % (n + 1))
        transport.send(inbox.address, "HELLO;")
        assert drain(inbox) == ["HELLO;"]
        assert foreign.current_messages == 0  # untouched
        # Nothing answers into a queue that is not private to us.
        with pytest.raises(transport.BadAddress):
            transport.reply_address(sysv.make_address("1", n))
        with pytest.raises(transport.BadAddress):
            transport.send(sysv.make_address("1", n), "X;")
    finally:
        foreign.remove()


@pytest.mark.parametrize("text", [
    "sysv:%s:1:x" % HOST, "sysv:%s:1" % HOST, "sysv:other.example.org:1:5", "sysv:%s:../1:5" % HOST,
    "sysv:%s:1;2:5" % HOST, "sysv:%s:-1:5" % HOST, "sysv::1:5",
])
def test_malformed_or_foreign_host_addresses_are_refused(text):
    with pytest.raises(transport.BadAddress):
        transport.reply_address(text)
    assert transport.owner(text) is None or text.startswith("sysv:other")


def test_host_names_once_found_valid_are_kept_and_bad_ones_never():
    """valid_host remembers the valid names it saw (it is asked twice per
    message), a bounded few: made-up names cannot grow it without end, and
    no bad name is ever taken for a good one, however often it is asked."""
    names = ["h%d.example.org" % i for i in range(200)]
    assert all(base.valid_host(name) for name in names)
    assert len(base._valid_hosts) <= 64
    for bad in ["../x", "a/b", "", "-a", "x" * 300, "a..b", "a b", None, 7]:
        for _ in range(2):
            assert not base.valid_host(bad)
    assert base.valid_host(names[0]) and base.valid_host(names[-1])


def test_another_user_can_neither_read_nor_write(inboxes):
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user")
    inbox = inboxes()
    transport.send(inbox.address, "SECRET;")
    key = sysvkeys.key(int(inbox.address.rsplit(":", 1)[1]))
    assert inbox.queue.mode & 0o777 == 0o600

    def intruder():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        for flags in (0, sysv_ipc.IPC_CREAT):
            try:
                q = sysv_ipc.MessageQueue(key, flags)
            except sysv_ipc.PermissionsError:
                continue
            try:  # opened (it must not): try to read and to write anyway
                q.receive(block=False)
                return False
            except (sysv_ipc.PermissionsError, sysv_ipc.BusyError):
                pass
            try:
                q.send(b"EVIL;", block=False)
                return False
            except sysv_ipc.PermissionsError:
                pass
        return True

    assert in_child(intruder) == 0
    assert drain(inbox) == ["SECRET;"]


# -- messages larger than msgmax, full queues ---------------------------------------------

def test_messages_over_msgmax_arrive_whole_and_in_order(inboxes):
    inbox = inboxes()
    limit = sysv.msgmax()
    sent = ["SMALL 1;", "A" * (limit - 1) + ";", "B" * limit + ";", "C" * (3 * limit) + ";", "SMALL 2;"]
    kinds = [transport.send(inbox.address, text).token[0] for text in sent]
    # At msgmax a message still fits; one byte more goes to the box, and
    # the next one follows it there while it is unread (order).
    assert kinds == ["q", "q", "b", "b", "b"]
    assert drain(inbox) == sent
    assert transport.send(inbox.address, "AFTER;").token[0] == "q"
    assert drain(inbox) == ["AFTER;"]


def test_a_full_queue_overflows_into_the_box_in_order(inboxes):
    inbox = inboxes()
    sent = ["FILL %03d %s;" % (i, "x" * 1000) for i in range(60)]
    kinds = [transport.send(inbox.address, text).token[0] for text in sent]
    assert "q" in kinds and "b" in kinds
    assert drain(inbox) == sent


def test_a_queue_holding_max_unread_messages_sends_to_the_box(inboxes):
    """Message types of one sender repeat after 511: a queue counts as
    full at MAX_UNREAD unread messages, although the kernel would take
    more, and its count is looked at seldom, not at every send."""
    inbox = inboxes()
    sent = ["U %d;" % i for i in range(sysv.MAX_UNREAD + 20)]
    receipts = [transport.send(inbox.address, text) for text in sent]
    kinds = [r.token[0] for r in receipts]
    assert kinds == ["q"] * sysv.MAX_UNREAD + ["b"] * 20
    # Every receipt takes back exactly its own message.
    assert transport.withdraw(receipts[3]) and transport.withdraw(receipts[-1])
    assert not transport.withdraw(receipts[3])
    expected = [t for i, t in enumerate(sent) if i not in (3, len(sent) - 1)]
    assert drain(inbox) == expected
    assert transport.send(inbox.address, "AFTER;").token[0] == "q"
    assert drain(inbox) == ["AFTER;"]


def test_a_receipt_withdraws_its_own_message_after_511_sends_elsewhere(inboxes):
    """Found by a review: one counter of message types for all queues, so
    a message unread in one queue shared its type with one sent there 511
    sends later, and withdrawing the second took the first."""
    a, b = inboxes("a"), inboxes("b")
    first = transport.send(a.address, "FIRST;")
    for i in range(510):
        transport.send(b.address, "B;")
        if i % 100 == 99:
            drain(b)
    drain(b)
    second = transport.send(a.address, "SECOND;")
    assert transport.withdraw(second)
    assert drain(a) == ["FIRST;"]
    assert not transport.withdraw(first)


def test_a_kept_queue_handle_is_checked_again_after_a_pause(inboxes):
    """The kernel may give a removed queue's id to a stranger's new queue:
    a handle unused for VERIFY_IDLE seconds is checked again (owner,
    mode) before it is used.  Here the queue itself changes hands."""
    inbox = inboxes("h")
    transport.send(inbox.address, "HI;")
    assert drain(inbox) == ["HI;"]
    other = sysv_ipc.MessageQueue(inbox.queue.key)
    other.uid, other.mode = 65534, 0o666
    try:
        transport.send(inbox.address, "SOON;")  # in use: not checked again
        assert drain(inbox) == ["SOON;"]
        sysv._handles[inbox.queue.key].used -= sysv.VERIFY_IDLE + 1
        with pytest.raises(transport.BadAddress):
            transport.send(inbox.address, "LATER;")
        assert other.current_messages == 0
        assert not transport.exists(inbox.address)
    finally:
        other.uid, other.mode = os.geteuid(), 0o600


def test_kept_handles_are_bounded_but_not_those_with_unread_messages(inboxes, monkeypatch):
    """A daemon answers an endless stream of answer queues: their handles
    go once their queues are empty or removed; a queue with a message of
    ours unread keeps its handle, and so its type counter."""
    monkeypatch.setattr(sysv, "MAX_HANDLES", 8)
    keep = inboxes("k")
    receipt = transport.send(keep.address, "KEEP;")
    for i in range(20):
        passing = inboxes("x%d" % i)
        transport.send(passing.address, "X;")
        assert drain(passing) == ["X;"]
    assert len(sysv._handles) <= 8
    assert keep.queue.key in sysv._handles
    assert transport.withdraw(receipt) and drain(keep) == []


def as_plain_user(fn):
    """``fn()`` in a forked child without root's bypass of queue
    permissions (uid 65534 when the tests run as root), in a $HOME of its
    own; returns its exit status (0: fn returned True)."""
    # pytest's tmp_path is under a 0700 directory that uid cannot reach.
    run_as = tempfile.mkdtemp(prefix="gsat-nobody-")
    os.chmod(run_as, 0o777)

    def child():
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        os.environ["HOME"] = run_as
        forget()
        return fn()

    try:
        return in_child(child)
    finally:
        shutil.rmtree(run_as, ignore_errors=True)


def test_a_queue_we_may_not_look_at_is_not_ours_and_raises_nothing_else(home):
    """Found by a review: the check of a kept handle asked the kernel for
    the queue's owner, which a queue we may not read refuses with an
    error that no caller expected (a daemon answering there ended).  Run
    as a user without root's bypass (uid 65534 when the tests run as
    root): its own queue, taken out of its reach with mode 0."""

    def child():
        inbox = transport.open_inbox(tag="p", sweep=False)
        try:
            receipt = transport.send(inbox.address, "HI;")
            inbox.queue.mode = 0
            sysv._handles[inbox.queue.key].used -= sysv.VERIFY_IDLE + 1
            for attempt in (lambda: transport.send(inbox.address, "LATER;"),
                            lambda: transport.reply_address(inbox.address)):
                try:
                    attempt()
                    return False
                except transport.BadAddress:
                    pass
            return transport.withdraw(receipt) is False and transport.exists(inbox.address) is False
        finally:
            inbox.queue.remove()  # its owner may, without looking
            inbox.close()

    assert as_plain_user(child) == 0


def test_a_queue_out_of_reach_while_in_use_keeps_its_type_counter(home):
    """Found by a review: a send refused by the kernel (the queue made
    read-only) dropped the handle, counter included, though a message of
    ours was unread there; the next message had its type."""

    def child():
        q = transport.open_inbox(tag="r", sweep=False)
        try:
            a = transport.send(q.address, "A;")
            q.queue.mode = 0o400
            for _ in range(sysv.TYPES - 1):  # refused sends spend no type either
                try:
                    transport.send(q.address, "REFUSED;")
                    return False
                except transport.BadAddress:
                    pass
            q.queue.mode = 0o600
            b = transport.send(q.address, "B;")
            return b.token[2] != a.token[2] and transport.withdraw(b) and drain(q) == ["A;"]
        finally:
            q.close()

    assert as_plain_user(child) == 0


def test_a_kept_handle_whose_id_went_to_another_queue_of_ours_is_not_used(tmp_path):
    """Found by a review: after a pause the handle was checked by its id
    alone; the kernel can give a removed queue's id to a new queue of ours
    (forced here with msg_next_id, in an IPC namespace of the test's own),
    which then got messages meant for the removed one."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) for a private IPC namespace")
    script = textwrap.dedent("""
        import os, sys
        from gsatellite import transport
        from gsatellite.transport import sysv
        a = transport.open_inbox(tag="a", sweep=False)
        transport.send(a.address, "HI;")
        assert a.receive() == "HI;"
        old_id = a.queue.id
        a.queue.remove()
        with open("/proc/sys/kernel/msg_next_id", "w") as f:
            f.write(str(old_id))
        b = transport.open_inbox(tag="b", sweep=False)
        assert b.queue.id == old_id, "the id was not given again"
        sysv._handles[a.queue.key].used -= sysv.VERIFY_IDLE + 1
        try:
            transport.send(a.address, "FOR-A;")
            print("sent")
        except transport.Unreachable:
            print("unreachable")
        print("b holds", b.receive())
        print("a's box holds", a.box.receive())
        b.close()
    """)
    env = dict(os.environ, HOME=str(tmp_path), GSAT_HOSTNAME=HOST, GSAT_TRANSPORT="sysv",
               PYTHONPATH=os.path.join(os.path.dirname(sysv.__file__), "..", ".."))
    r = subprocess.run(["unshare", "--ipc", sys.executable, "-c", script], env=env,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0 and "unshare" in r.stderr and "Operation not permitted" in r.stderr:
        pytest.skip("unshare refused here: %s" % r.stderr.strip())
    assert r.returncode == 0, r.stderr
    # a's queue is gone but a is not: its box takes the message (its owner
    # makes itself a new queue and reads the box meanwhile).
    assert r.stdout.split("\n")[:3] == ["sent", "b holds None", "a's box holds FOR-A;"]


def test_a_receipt_of_a_read_message_names_no_message_sent_after_a_prune(inboxes, monkeypatch):
    """Found by a review: a queue's handle dropped by a prune came back
    with its counter at 0, so the next message there had the type of the
    first one, and that one's old receipt took it."""
    monkeypatch.setattr(sysv, "MAX_HANDLES", 8)
    peer = inboxes("peer")
    old = transport.send(peer.address, "HOLD 1;")
    assert drain(peer) == ["HOLD 1;"]
    for i in range(8):
        passing = inboxes("x%d" % i)
        transport.send(passing.address, "A;")
        drain(passing)
    assert peer.queue.key not in sysv._handles  # pruned
    transport.send(peer.address, "KILL 2;")
    assert not transport.withdraw(old)
    assert drain(peer) == ["KILL 2;"]


def test_queues_that_keep_messages_unread_do_not_make_every_new_queue_prune(inboxes, monkeypatch):
    """Found by a review: kept handles that a prune may not drop (a message
    of ours unread there) made every new queue scan them all again."""
    monkeypatch.setattr(sysv, "MAX_HANDLES", 8)
    monkeypatch.setattr(sysv, "_prune_at", 0)
    for i in range(10):
        transport.send(inboxes("s%d" % i).address, "S;")  # left unread
    prunes = []
    real = sysv._prune
    monkeypatch.setattr(sysv, "_prune", lambda: prunes.append(1) or real())
    for i in range(10):
        passing = inboxes("p%d" % i)
        transport.send(passing.address, "P;")
        drain(passing)
    assert 1 <= len(prunes) <= 2


def test_a_queue_out_of_reach_for_a_while_keeps_its_type_counter(inboxes):
    """Found by a review: a queue found not ours lost its handle, counter
    included, though messages of ours were unread there; once ours again,
    the next message had the first one's type."""
    inbox = inboxes("o")
    first = transport.send(inbox.address, "FIRST;")
    other = sysv_ipc.MessageQueue(inbox.queue.key)
    other.uid, other.mode = 65534, 0o666
    try:
        sysv._handles[inbox.queue.key].used -= sysv.VERIFY_IDLE + 1
        with pytest.raises(transport.BadAddress):
            transport.send(inbox.address, "REFUSED;")
    finally:
        other.uid, other.mode = os.geteuid(), 0o600
    second = transport.send(inbox.address, "SECOND;")
    assert second.token != first.token
    assert transport.withdraw(second) and drain(inbox) == ["FIRST;"]


def test_a_receipt_of_a_read_message_takes_nothing_back_after_511_more(inboxes):
    """Found by a review: types repeat after 511 messages to one queue, so
    the receipt of a message read long ago named a later one, which a
    late withdrawal (an ask given up) took unread."""
    peer = inboxes("peer")
    old = transport.send(peer.address, "HOLD 1;")
    assert drain(peer) == ["HOLD 1;"]
    for i in range(510):
        transport.send(peer.address, "N %d;" % i)
        assert drain(peer) == ["N %d;" % i]
    later = transport.send(peer.address, "KILL 2;")
    assert later.token[2] == old.token[2]  # the same type again
    assert not transport.withdraw(old)
    assert drain(peer) == ["KILL 2;"]


def test_withdrawn_messages_free_no_type_while_an_older_one_is_unread(inboxes):
    """Found by a review: the count of a queue's messages bounded what was
    unread, but withdrawals took messages out while the type counter went
    on, so the 511th request sent and withdrawn took the first, unread."""
    q = inboxes("w")
    transport.send(q.address, "FIRST;")
    for i in range(sysv.TYPES + 10):
        receipt = transport.send(q.address, "ASK %d;" % i)
        assert transport.withdraw(receipt), i
    assert drain(q) == ["FIRST;"]


def test_a_damaged_secret_is_a_transport_error(home, inboxes):
    """Found by a review: a secret file without a number raised ValueError
    through send, exists and a daemon's answer."""
    address = inboxes("d").address
    path = os.path.join(sysvkeys.registry_dir(), sysvkeys.SECRET)
    with open(path) as f:
        kept = f.read()
    with open(path, "w") as f:
        f.write("")
    try:
        sysvkeys._secrets.clear()
        sysvkeys._key_of.clear()
        with pytest.raises(OSError):
            transport.send(address, "HI;")
        assert transport.exists(address) is False
        with pytest.raises(OSError):
            transport.reply_address(address)
    finally:
        with open(path, "w") as f:
            f.write(kept)
        sysvkeys._secrets.clear()


def test_a_type_refused_by_a_full_queue_is_not_spent(inboxes):
    """Found by a review: a send that found the queue full went to the box
    but had moved the type counter, uncounted; 510 such sends withdrawn
    later, the next message had the type of one still unread."""
    q = inboxes("f")
    first = transport.send(q.address, "M;")
    filler = sysv_ipc.MessageQueue(q.queue.key)
    for size in (1000, 1):  # to the last byte of msgmnb
        while True:
            try:
                filler.send(b"x" * size, block=False, type=7)
            except sysv_ipc.BusyError:
                break
    for _ in range(sysv.TYPES - 1):
        boxed = transport.send(q.address, "ASK;")
        assert boxed.token[0] == "b" and transport.withdraw(boxed)
    while True:
        try:
            filler.receive(block=False, type=7)
        except sysv_ipc.BusyError:
            break
    later = transport.send(q.address, "N;")
    assert later.token[0] == "q" and later.token[2] != first.token[2]
    assert transport.withdraw(later) and drain(q) == ["M;"]


def test_a_withdrawal_takes_back_only_what_was_sent(inboxes):
    """Found by a review: a new process of ours with a dead one's PID
    gives out the dead one's types, so a withdrawal took the dead
    process's unread message and left its own to take effect.  Here the
    dead process's message is made by hand, with the type our next
    message gets."""
    q = inboxes("s")
    transport.send(q.address, "WARM;")
    assert drain(q) == ["WARM;"]
    handle = sysv._handles[q.queue.key]
    next_type = ((os.getpid() & 0x3FFFFF) << 9) | ((handle.counter + 1) % sysv.TYPES + 1)
    sysv_ipc.MessageQueue(q.queue.key).send(b"STALE;", block=False, type=next_type)
    mine = transport.send(q.address, "MINE;")
    assert mine.token[2] == next_type
    assert transport.withdraw(mine)
    assert drain(q) == ["STALE;"]  # not lost: back, behind


def _sigcont_pending_after(fn):
    """Whether ``fn()`` left a SIGCONT pending for this process (blocked
    meanwhile, taken afterwards)."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCONT})
    try:
        while signal.sigtimedwait({signal.SIGCONT}, 0) is not None:
            pass
        fn()
        return signal.sigtimedwait({signal.SIGCONT}, 0) is not None
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def test_a_message_put_back_by_a_withdrawal_wakes_its_reader(inboxes):
    """Its reader may have looked into the queue while the message was
    taken out: unless it is woken, the message waits for the next one or
    the poll.  The reader here is this process, whose queue it is."""
    q = inboxes("s")
    transport.send(q.address, "WARM;")
    assert drain(q) == ["WARM;"]
    plain = transport.send(q.address, "PLAIN;")
    assert not _sigcont_pending_after(lambda: transport.withdraw(plain))
    handle = sysv._handles[q.queue.key]
    next_type = ((os.getpid() & 0x3FFFFF) << 9) | ((handle.counter + 1) % sysv.TYPES + 1)
    sysv_ipc.MessageQueue(q.queue.key).send(b"STALE;", block=False, type=next_type)
    mine = transport.send(q.address, "MINE;")
    assert _sigcont_pending_after(lambda: transport.withdraw(mine))
    assert drain(q) == ["STALE;"]


def test_exists_and_withdraw_without_the_module_say_no(home, monkeypatch):
    """Found by a review: without sysv_ipc, exists() raised AttributeError
    (sendcmd -m sysv:... printed a traceback)."""
    address = sysv.make_address("123", 4567)
    monkeypatch.setattr(sysv, "sysv_ipc", None)
    assert transport.exists(address) is False


def test_exists_is_false_when_no_key_can_be_worked_out(home):
    """Found by a review: with no secret to be had (here a file where the
    registry directory belongs) exists() raised UnboundLocalError."""
    d = sysvkeys.registry_dir()
    os.makedirs(os.path.dirname(d), exist_ok=True)
    open(d, "w").close()
    assert transport.exists(sysv.make_address("123", 4567)) is False


def test_an_oversized_message_can_be_withdrawn(inboxes):
    inbox = inboxes()
    receipt = transport.send(inbox.address, "W" * 20000 + ";")
    assert transport.withdraw(receipt) is True
    assert drain(inbox) == []


# -- lifetime and clean-up --------------------------------------------------------------------

def test_close_removes_queue_box_and_entry(home):
    inbox = transport.open_inbox(tag="x")
    key = inbox.queue.key
    entry = sysvkeys.entry_path("%d.x" % os.getpid())
    assert key in kernel_keys() and os.path.exists(entry) and os.path.isdir(inbox.box.address)
    inbox.close()
    assert key not in kernel_keys()
    assert not os.path.exists(entry) and not os.path.exists(inbox.box.address)
    assert not transport.exists(inbox.address)


def test_the_main_address_is_found_by_pid_without_a_listing(inboxes):
    inbox = inboxes(tag="", pid=os.getpid())
    assert transport.process_address(os.getpid()) == inbox.address
    # Another host, or a process without a queue: its box.
    assert transport.process_address(os.getpid(), "other.example.org").kind == base.MBOX
    assert transport.process_address(1).kind == base.MBOX


def test_queues_of_a_process_killed_with_kill_9_are_swept(home, inboxes):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        a = transport.open_inbox(tag="")
        b = transport.open_inbox(tag="7")
        os.write(w, ("%d %d\n" % (a.queue.key, b.queue.key)).encode())
        signal.pause()
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        keys = {int(k) for k in f.readline().split()}
    mine = inboxes()  # alive: must survive every sweep
    try:
        assert keys <= kernel_keys()
        assert transport.sweep() == 0  # its owner is alive
        assert keys <= kernel_keys()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    boxes = [mbox.pid_box(pid), mbox.box_path("%d.7.inbox" % pid)]
    assert all(os.path.isdir(b) for b in boxes)
    # The next daemon start sweeps (open_inbox of a main inbox).
    inboxes(tag="", pid=os.getpid())
    assert not keys & kernel_keys()
    assert mine.queue.key in kernel_keys()
    # Their boxes too (found left behind by a review): nobody reads them.
    assert not any(os.path.lexists(b) for b in boxes)
    assert os.path.isdir(mine.box.address)
    left = sorted(os.listdir(sysvkeys.registry_dir()))
    assert left == sorted([sysvkeys.SECRET, str(os.getpid()), "%d.t" % os.getpid()])
    assert transport.sweep() == 0


def _killed_owner_queue():
    """The key and registry name of a queue whose owner was killed (-9)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        a = transport.open_inbox(tag="5")
        os.write(w, ("%d\n" % a.queue.key).encode())
        signal.pause()
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        key = int(f.readline())
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return key, "%d.5" % pid


def test_a_sweep_killed_after_its_claim_leaves_no_queue_behind(home, monkeypatch):
    key, name = _killed_owner_queue()
    d = sysvkeys.registry_dir()
    # What a sweeper killed between its claim (the rename) and the removal
    # of the queue leaves: no entry by the owner's name any more.
    claim = os.path.join(d, sysvkeys.CLAIM + name + ".abcdef")
    os.rename(os.path.join(d, name), claim)
    assert key in kernel_keys()
    assert transport.sweep() == 0  # a fresh claim may be a running sweeper's
    assert key in kernel_keys() and os.path.exists(claim)
    monkeypatch.setattr(sysvkeys, "CLAIM_SECONDS", -1.0)  # as if a minute had passed
    assert transport.sweep() == 1
    assert key not in kernel_keys()
    assert not os.path.exists(claim)
    assert not os.path.lexists(mbox.box_path(name + mbox.BOX_SUFFIX))


def test_a_claim_on_a_live_owner_is_given_back(home, inboxes, monkeypatch):
    # A sweeper killed after a new owner of the PID wrote the entry.
    mine = inboxes(tag="9")
    name = "%d.9" % os.getpid()
    d = sysvkeys.registry_dir()
    claim = os.path.join(d, sysvkeys.CLAIM + name + ".abcdef")
    os.rename(os.path.join(d, name), claim)
    monkeypatch.setattr(sysvkeys, "CLAIM_SECONDS", -1.0)
    assert transport.sweep() == 0
    assert mine.queue.key in kernel_keys()
    assert os.path.exists(os.path.join(d, name)) and not os.path.exists(claim)


@pytest.mark.parametrize("claimed", [False, True])
def test_entries_named_with_digits_int_cannot_read_are_left_alone(home, inboxes, claimed, monkeypatch):
    # '²' and '٣' pass str.isdigit(); int('²') raises: a sweep must not.
    mine = inboxes(tag="4")
    d = sysvkeys.registry_dir()
    with open(os.path.join(d, "%d.4" % os.getpid())) as f:
        entry = f.read()
    for name in ("\u00b2", "\u0663.1"):
        with open(os.path.join(d, (sysvkeys.CLAIM + name + ".abcdef") if claimed else name), "w") as f:
            f.write(entry)  # a valid entry under an absurd name
    monkeypatch.setattr(sysvkeys, "CLAIM_SECONDS", -1.0)
    transport.sweep()
    assert mine.queue.key in kernel_keys()


def test_an_entry_whose_queue_was_never_made_is_swept(home):
    sysvkeys.write_entry("999999", 5)  # no such process, no such queue
    assert transport.sweep() == 0
    assert not os.path.exists(sysvkeys.entry_path("999999"))


# -- no binding -------------------------------------------------------------------------------

def test_without_the_binding_sysv_falls_back_to_boxes_with_one_log_line(monkeypatch, capsys):
    monkeypatch.setattr(sysv, "sysv_ipc", None)
    monkeypatch.setattr(base, "_warned", set())
    first = transport.open_inbox(tag="")
    second = transport.open_inbox(tag="2")
    client = transport.open_inbox(tag="3", log=lambda line: None)
    try:
        for inbox in (first, second, client):
            assert inbox.address.kind == base.MBOX
            assert inbox.address.startswith(os.path.join(paths.mboxes_root(), HOST))
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 1 and "sysv_ipc" in lines[0] and "boxes" in lines[0]
    finally:
        for inbox in (first, second, client):
            inbox.close()
    assert isinstance(first, mbox.Inbox)


# -- whom a wake-up may reach -------------------------------------------------------------

def test_only_the_owner_its_entry_records_is_woken_whatever_the_clock_did(inboxes, monkeypatch):
    """A queue address is woken only for the process whose start time its
    registry entry records: not for another process named in the address
    (a stranger at a dead owner's PID, however soon after the queue it
    started), not for an address whose number is not the entry's, and
    still for the owner after the wall clock stepped forward (before, a
    queue's ctime was compared with a start counted on today's clock, so
    a step of a second silenced a long-lived queue for good)."""
    import subprocess
    import time

    from gsatellite import pidref

    mine = inboxes(tag="w")
    _, host, name, n = mine.address.split(":")
    recorded = transport.changed(mine.address)
    assert isinstance(recorded, pidref.Recorded) and recorded == pidref.own_start_time()
    assert transport.may_wake(mine.address, recorded)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 5.0)  # ntpd stepped the clock
    assert transport.may_wake(mine.address, transport.changed(mine.address))
    monkeypatch.setattr(time, "time", real)

    stranger = subprocess.Popen(["sleep", "30"])
    try:
        named = "sysv:%s:%d.w:%s" % (host, stranger.pid, n)
        assert transport.changed(named) == -1
        assert not transport.may_wake(named, transport.changed(named))
        sent = []
        monkeypatch.setattr(pidref, "_kill", lambda pid, sig: sent.append(pid) or True)
        monkeypatch.setattr(pidref, "_held", {})
        for _ in range(3):
            assert not transport.wake_owner_if_safe(named, transport.changed(named))
        assert sent == []
        other_n = "sysv:%s:%s:%d" % (host, name, (int(n) + 1) & 0x7FFFFFFF)
        assert not transport.may_wake(other_n, transport.changed(other_n))
    finally:
        stranger.kill()
        stranger.wait()


def test_a_fifo_in_place_of_a_registry_entry_blocks_nobody(home):
    """A registry entry replaced by a FIFO: looking the queue up (every
    request to a daemon does) reads nothing instead of blocking for ever."""
    os.makedirs(sysvkeys.registry_dir(), exist_ok=True)
    path = sysvkeys.entry_path("4242")
    os.mkfifo(path, 0o600)
    assert sysvkeys.read_entry(path) is None
    assert sysvkeys.lookup(4242) is None
    assert transport.changed("sysv:%s:4242:7" % paths.hostname()) == -1


def test_a_fifo_as_the_secret_is_an_error_not_a_hang(tmp_path, monkeypatch):
    """The registry's secret is read without blocking: a FIFO in its place
    is an OSError (the transport then falls back to boxes), never a hang."""
    import threading

    from gsatellite.transport import sysvkeys

    d = tmp_path / "sysv"
    d.mkdir()
    fifo = str(d / sysvkeys.SECRET)
    os.mkfifo(fifo)
    monkeypatch.setattr(sysvkeys, "registry_dir", lambda host=None: str(d))
    monkeypatch.setattr(sysvkeys, "_secrets", {})
    outcome = []

    def read():
        try:
            outcome.append(sysvkeys.secret())
        except Exception as e:  # noqa: BLE001 - the outcome is asserted
            outcome.append(e)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(5)
    blocked = t.is_alive()
    if blocked:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(5)
    assert not blocked, "reading the secret blocked on a FIFO"
    assert isinstance(outcome[0], OSError)


# -- found by the review of c9ab04b ------------------------------------------------

def _daemon():
    from gsatellite.daemon import Daemon

    return Daemon()


def test_a_daemon_whose_queue_is_removed_keeps_its_box_and_gets_a_new_queue(home):
    """``ipcrm`` of a daemon's queue: the daemon made itself a new inbox,
    emptying its box on the way, so a classic client's request waiting
    there was dropped unanswered."""
    d = _daemon()
    try:
        old, old_id = d.inbox.address, d.inbox.queue.id
        client = mbox.create_pid_box(suffix=".c1")
        mbox.send(d.inbox.box.address, "ALIVE?;%s" % client)  # as a classic client does
        d.inbox.queue.remove()
        d.once(timeout=0)
        d.once(timeout=0)
        assert [text for text, _ in _requests(client)] == ["YES"]
        # A new queue under the same number: the address senders hold stays.
        assert d.inbox.queue.id != old_id and d.inbox.address == old == d.box
        assert sysv.exists(d.inbox.address)
        entry = sysvkeys.read_entry(sysvkeys.entry_path(str(os.getpid())))
        assert entry is not None and entry[0] == sysv.parse(d.inbox.address)[2]
        transport.send(d.inbox.address, "ALIVE?;%s" % client)  # the new queue serves
        d.once(timeout=0)
        assert [text for text, _ in _requests(client)] == ["YES"]
    finally:
        d.shutdown()
        d.sleeper.release()


def test_a_queue_that_cannot_be_made_again_on_a_full_disk_leaves_the_daemon_on_its_box(home, monkeypatch):
    """``ipcrm`` of a daemon's queue while the disk is full: making the new
    queue's registry entry raised ENOSPC out of the inbox's receive, and the
    daemon ended.  Now the box serves until the disk has room again."""
    from tests.fullfs import fill, small_tmpfs

    monkeypatch.setattr(sysv, "RENEW_RETRY", 0.0)
    with small_tmpfs(sysvkeys.registry_dir(), "64k"):
        d = _daemon()
        try:
            old_id = d.inbox.queue.id
            filler = fill(sysvkeys.registry_dir())
            client = mbox.create_pid_box(suffix=".c3")
            d.inbox.queue.remove()
            mbox.send(d.inbox.box.address, "ALIVE?;%s" % client)  # as a classic client does
            d.once(timeout=0)
            d.once(timeout=0)  # tries again, the disk still full
            assert [text for text, _ in _requests(client)] == ["YES"]
            assert d.inbox.queue is None
            os.unlink(filler)
            d.once(timeout=0)
            assert d.inbox.queue is not None and d.inbox.queue.id != old_id
            assert sysv.exists(d.inbox.address)
            transport.send(d.inbox.address, "ALIVE?;%s" % client)
            d.once(timeout=0)
            assert [text for text, _ in _requests(client)] == ["YES"]
        finally:
            d.shutdown()
            d.sleeper.release()


def _requests(box):
    from unit.conftest import requests_in

    return requests_in(box)


@pytest.mark.parametrize("garbage", ["-5 7", "1_0 7", "\uff11 7", "99999999999 7", "5 -7", "5"])
def test_a_registry_entry_takes_ascii_numbers_in_range_only(home, garbage):
    path = sysvkeys.entry_path("4711")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(garbage + "\n")
    assert sysvkeys.read_entry(path) is None
    assert sysv.process_address(4711).kind == base.MBOX


def test_a_registry_that_is_not_a_directory_falls_back_to_boxes(home):
    """It crashed every daemon: a sputnik died before its job started (the
    job failed), the controller's stop and the next start too."""
    d = sysvkeys.registry_dir()
    os.makedirs(os.path.dirname(d), exist_ok=True)
    with open(d, "w") as f:
        f.write("junk\n")
    with pytest.raises(base.Unavailable):
        sysv.open_inbox(tag="x")
    with pytest.raises(base.Unavailable):
        sysv.open_inbox()  # a main inbox sweeps first
    inbox = transport.open_inbox(log=lambda line: None)
    try:
        assert inbox.address.kind == base.MBOX
    finally:
        inbox.close()
    assert sysv.sweep() == 0
    sysvkeys.remove_entry("4711")  # no error either


def test_a_directory_named_like_a_pid_in_the_registry_is_left_alone(home, inboxes):
    q = inboxes("s")  # makes the registry
    odd = sysvkeys.entry_path("4000010")
    os.mkdir(odd)
    assert sysv.sweep() == 0
    assert os.path.isdir(odd)
    assert not [n for n in os.listdir(sysvkeys.registry_dir()) if n.startswith(sysvkeys.CLAIM)]
    assert sysv.exists(q.address)


def test_a_send_to_a_removed_queue_whose_owner_lives_goes_to_its_box(home, inboxes):
    """Found by the review of 0524a8e: after an ipcrm of the controller's
    queue, the next gqsub failed ("queue N does not exist") while the
    controller read its box and was making a new queue.  A closed inbox
    (its entry goes first) still refuses."""
    q = inboxes("r")
    q.queue.remove()
    receipt = transport.send(q.address, "AFTER;")
    assert receipt.token[0] == "b"
    assert mbox.receive(q.box.address) == "AFTER;"
    q.close()
    with pytest.raises(transport.Unreachable):
        transport.send(q.address, "CLOSED;")


def test_a_late_message_to_a_gone_inbox_never_reaches_a_new_inbox_of_its_name(home, inboxes):
    """Found by the review of 1fb93f7: a client killed while it waited, a
    new client with its PID, the same inbox name: the first one's late
    answer went into the second one's box and was taken for its answer.
    Here the first queue is removed and its name's entry rewritten with
    another number, as the new client's open_inbox does, its owner alive."""
    q = inboxes("1")
    first = q.address
    _, name, n = sysv.parse(first)
    q.queue.remove()
    sysvkeys.write_entry(name, (n + 1) & sysvkeys.MAX_NUMBER)
    with pytest.raises(transport.Unreachable):
        transport.send(first, "LATE ANSWER;")
    assert mbox.pending(q.box.address) == []


def test_an_answer_inbox_whose_queue_is_removed_is_made_again_and_its_box_read(home, inboxes):
    """Found by the review of efcb1e7: a sender finding the queue of an
    answer inbox gone published in its box, but the inbox raised
    Unreachable before it looked there: gqhold said the hold had failed
    while it took effect, a daemon's ask ended unanswered.  Now the inbox
    makes its queue again (same number) and reads the box."""
    q = inboxes("7")
    q.queue.remove()
    receipt = transport.send(q.address, "OK;")
    assert receipt.token[0] == "b"
    assert q.receive() == "OK;"
    assert q.receive() is None
    assert sysv.exists(q.address)  # made again under its number
    assert transport.send(q.address, "AGAIN;").token[0] == "q"
    assert q.receive() == "AGAIN;"


def test_the_first_request_after_an_ipcrm_is_answered_in_the_same_pass(home):
    """Found by the review of efcb1e7: the daemon noticed the removed queue,
    made a new one and ended its pass without reading the box, where the
    request waited (its SIGCONT spent): answered a poll later."""
    d = _daemon()
    try:
        client = mbox.create_pid_box(suffix=".c2")
        d.inbox.queue.remove()
        transport.send(d.inbox.address, "ALIVE?;%s" % client)  # into the box
        d.once(timeout=0)
        assert [text for text, _ in _requests(client)] == ["YES"]
    finally:
        d.shutdown()
        d.sleeper.release()

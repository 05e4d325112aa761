"""Message boxes (gsatellite.transport.mbox), in-process against a temporary $HOME.

Covers: publish/receive order (oldest ctime first; within one ctime tick,
send order), hidden files never visible, each message consumed exactly
once even by racing readers, alias boxes, owner(), BoxMissing and
BadMessage (empty, oversized, binary, several lines).  And where replies and
wake-ups may go: only to ``G/mboxes/HOST/NAME.inbox`` with a valid HOST and,
for a wake-up, a positive PID (regressions: ``ALIVE?;/etc`` made the
controller write ``/etc/message.X``; an answer box ``/tmp/x/vm/1.inbox``
made it send SIGCONT to PID 1).  The transport contract (tests/contract)
covers bad entries of every kind.
"""

import os
import signal
import stat
import subprocess
import threading
import time

import pytest

from gsatellite import paths, pidref, transport, waiters
from gsatellite.fsutil import ALPHABET
from gsatellite.transport import mbox

from contract.transports import forget, use_temp_home

HOST = "unit.example.org"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    use_temp_home(monkeypatch, tmp_path, HOST)
    yield tmp_path
    forget()


def drain(box):
    out = []
    while True:
        m = mbox.receive(box)
        if m is None:
            return out
        out.append(m)


def visible(box):
    return sorted(n for n in os.listdir(box) if n.startswith("message"))


# -- publish and order ---------------------------------------------------------

def test_send_writes_one_line_file_with_classic_name(home):
    box = mbox.create_pid_box(4711)
    assert box == os.path.join(str(home), ".gsatellite", "mboxes", HOST, "4711.inbox")
    assert stat.S_IMODE(os.stat(box).st_mode) == 0o700
    mbox.send(box, "ALIVE?;/some/box.inbox")
    (name,) = os.listdir(box)
    assert name.startswith("message.")
    rand = name[len("message."):]
    assert len(rand) == 8 and all(c in ALPHABET for c in rand)
    with open(os.path.join(box, name), "rb") as f:
        assert f.read() == b"ALIVE?;/some/box.inbox\n"


def test_receive_returns_messages_in_send_order(home):
    box = mbox.create_box("1.inbox")
    sent = ["MSG %d;" % i for i in range(200)]
    for m in sent:
        mbox.send(box, m)
    assert drain(box) == sent
    assert os.listdir(box) == []


def test_many_messages_in_one_ctime_tick_keep_send_order(home, monkeypatch):
    # This filesystem's ctimes are fine-grained; NFS and older kernels give
    # whole seconds or jiffies, so many messages share one ctime.  Coarsen
    # the ctime the receiver sees to whole seconds: the order must come
    # from the names then.
    real_lstat = os.lstat
    seen = []

    class Coarse:
        def __init__(self, st):
            self.st_ctime_ns = st.st_ctime_ns // 10**9 * 10**9
            self.st_mode = st.st_mode
            seen.append(self.st_ctime_ns)

    monkeypatch.setattr(mbox.os, "lstat", lambda p: Coarse(real_lstat(p)))
    box = mbox.create_box("2.inbox")
    sent = ["TICK %d;" % i for i in range(300)]
    for m in sent:
        mbox.send(box, m)
    assert drain(box) == sent
    assert len(set(seen)) < len(sent) / 2, "test did not produce shared ctimes"


def test_identical_ctimes_order_by_name(home, monkeypatch):
    class Same:
        st_ctime_ns = 10**18
        st_mode = stat.S_IFREG | 0o600

    box = mbox.create_box("3.inbox")
    for rand in ("zzzzzzzz", "00000000", "AAAAAAAA", "aaaaaaaa"):
        with open(os.path.join(box, "message." + rand), "w") as f:
            f.write("%s;\n" % rand)
    monkeypatch.setattr(mbox.os, "lstat", lambda p: Same())
    assert drain(box) == ["00000000;", "AAAAAAAA;", "aaaaaaaa;", "zzzzzzzz;"]


def test_older_ctime_wins_over_name(home):
    # Classic senders use random names, so the ctime decides, not the name.
    box = mbox.create_box("4.inbox")
    for rand in ("zzzzzzzz", "00000000"):
        with open(os.path.join(box, "message." + rand), "w") as f:
            f.write("%s;\n" % rand)
        time.sleep(0.05)
    assert drain(box) == ["zzzzzzzz;", "00000000;"]


def test_hidden_and_foreign_files_are_not_messages(home):
    box = mbox.create_box("5.inbox")
    for name in (".message.ABCDEFGH", "read.message.ABCDEFGH", "notes"):
        with open(os.path.join(box, name), "w") as f:
            f.write("HIDDEN;\n")
    assert mbox.pending(box) == []
    assert mbox.receive(box) is None
    mbox.send(box, "SHOWN;")
    assert mbox.receive(box) == "SHOWN;"
    assert sorted(os.listdir(box)) == [".message.ABCDEFGH", "notes", "read.message.ABCDEFGH"]


# -- exactly once ---------------------------------------------------------------

def test_consume_takes_a_message_exactly_once(home):
    box = mbox.create_box("6.inbox")
    mbox.send(box, "ONCE;")
    (path,) = mbox.pending(box)
    assert mbox.consume(path) == "ONCE;"
    with pytest.raises(FileNotFoundError):
        mbox.consume(path)
    assert os.listdir(box) == []
    assert mbox.receive(box) is None


def test_racing_receivers_share_messages_without_duplicates(home):
    box = mbox.create_box("7.inbox")
    sent = ["RACE %d;" % i for i in range(400)]
    for m in sent:
        mbox.send(box, m)
    got = [[] for _ in range(4)]
    go = threading.Event()

    def reader(out):
        go.wait()
        out.extend(drain(box))

    threads = [threading.Thread(target=reader, args=(out,)) for out in got]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(60)
    everything = [m for out in got for m in out]
    assert sorted(everything) == sorted(sent)
    assert len(everything) == len(set(everything))
    assert os.listdir(box) == []
    # Each reader still saw its own share in send order.
    for out in got:
        assert out == sorted(out, key=sent.index)


# -- boxes, aliases, owners ---------------------------------------------------------

def test_alias_resolves_to_the_real_box(home):
    box = mbox.create_box("4711.inbox")
    alias = mbox.create_alias(box, "sigfwd.inbox")
    assert alias == os.path.join(os.path.dirname(box), "sigfwd.inbox")
    assert os.readlink(alias) == "4711.inbox"  # bare relative name, classic
    assert mbox.resolve(alias) == box
    assert mbox.resolve(box) == box
    assert mbox.exists(alias)
    assert mbox.owner(alias) == (HOST, "4711")
    mbox.send(alias, "VIA ALIAS;")
    assert len(visible(box)) == 1
    assert mbox.receive(alias) == "VIA ALIAS;"
    mbox.remove_box(alias)
    assert not os.path.lexists(alias)
    assert os.path.isdir(box)


def test_a_new_forwarder_inherits_all_but_signals_from_a_dead_ones_box(home):
    dead = mbox.create_box("100.inbox")
    mbox.create_alias(dead, "sigfwd.inbox")
    for text in ("WRITE_FIFO /tmp/x 00001 0;", "SIGCONT 4711;", "DELEGATE_ACTION /tmp/a;/b.inbox"):
        mbox.send(mbox.sigfwd_box(), text)
    new = mbox.open_inbox(200)
    alias = mbox.become_sigfwd(new, inherit=lambda text: not text.startswith("SIG"))
    assert mbox.resolve(alias) == new.address
    assert not os.path.exists(dead)
    assert [new.receive(), new.receive(), new.receive()] == \
        ["WRITE_FIFO /tmp/x 00001 0;", "DELEGATE_ACTION /tmp/a;/b.inbox", None]
    # Without ``inherit`` (a forwarder making its alias again) nothing moves.
    other = mbox.create_box("300.inbox")
    mbox.send(other, "KEEP;")
    mbox.create_alias(other, "sigfwd.inbox")
    mbox.become_sigfwd(new)
    assert os.path.isdir(other) and mbox.receive(other) == "KEEP;"


def test_alias_can_be_repointed_atomically(home):
    old = mbox.create_box("100.inbox")
    new = mbox.create_box("200.inbox")
    alias = mbox.create_alias(old, "sigfwd.inbox")
    mbox.create_alias(new, "sigfwd.inbox")
    assert mbox.resolve(alias) == new
    assert sorted(os.listdir(os.path.dirname(old))) == ["100.inbox", "200.inbox", "sigfwd.inbox"]


@pytest.mark.parametrize("path, expected", [
    ("/h/.gsatellite/mboxes/node1.example.org/123.inbox", ("node1.example.org", "123")),
    ("/h/.gsatellite/mboxes/node1/123.inbox/", ("node1", "123")),
    ("/h/.gsatellite/mboxes/node1/123.2.inbox", ("node1", "123")),
    ("/h/.gsatellite/mboxes/node1/AbCd1234.inbox", ("node1", "AbCd1234")),
])
def test_owner_is_read_off_the_path(path, expected):
    assert mbox.owner(path) == expected


def test_temp_box_is_classic(home):
    box = mbox.create_temp_box()
    d, name = os.path.split(box)
    assert d == mbox.host_dir()
    assert name.endswith(".inbox") and len(name) == 8 + len(".inbox")
    assert stat.S_IMODE(os.stat(box).st_mode) == 0o700
    assert os.listdir(d) == [name]  # the mktemp directory was renamed, not copied


def test_recreated_pid_box_drops_stale_messages(home):
    box = mbox.create_pid_box(321)
    mbox.send(box, "FOR A DEAD PROCESS;")
    assert mbox.create_pid_box(321) == box
    assert os.listdir(box) == []


# -- errors ------------------------------------------------------------------------

def test_missing_box_raises_box_missing(home):
    missing = mbox.box_path("999999.inbox")
    with pytest.raises(mbox.BoxMissing):
        mbox.send(missing, "ALIVE?;")
    with pytest.raises(mbox.BoxMissing):
        mbox.receive(missing)
    assert not os.path.exists(missing)
    os.makedirs(mbox.host_dir())
    dangling = mbox.create_alias(missing, "sigfwd.inbox")
    with pytest.raises(mbox.BoxMissing):
        mbox.send(dangling, "ALIVE?;")
    assert not mbox.exists(dangling)


def test_box_removed_between_check_and_publish_raises_box_missing(home, monkeypatch):
    box = mbox.create_box("8.inbox")
    real_open = os.open

    def vanish_then_open(path, *args):
        mbox.remove_box(box)
        return real_open(path, *args)

    monkeypatch.setattr(mbox.os, "open", vanish_then_open)
    with pytest.raises(mbox.BoxMissing):
        mbox.send(box, "ALIVE?;")


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"\n", "empty"),
    (b"ALIVE?\0;box\n", "not one line"),
    (b"ALIVE?;box\nPID?;box\n", "not one line"),
    (b"x" * 101, "larger than 100"),
])
def test_bad_message_is_refused_and_removed(home, data, reason):
    box = mbox.create_box("9.inbox")
    path = os.path.join(box, "message.BADBADBA")
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(mbox.BadMessage, match=reason):
        mbox.consume(path, limit=100)
    assert os.listdir(box) == []


def test_message_at_the_size_limit_is_accepted(home):
    box = mbox.create_box("10.inbox")
    text = "A" * 99  # plus the newline: exactly the 100-byte limit
    mbox.send(box, text)
    assert mbox.receive(box, limit=100) == text


def test_default_limit_refuses_over_64_kib(home):
    box = mbox.create_box("11.inbox")
    mbox.send(box, "B" * 70000 + ";")
    with pytest.raises(mbox.BadMessage):
        mbox.receive(box)
    assert os.listdir(box) == []


def test_non_utf8_single_line_survives_round_trip(home):
    box = mbox.create_box("12.inbox")
    path = os.path.join(box, "message.LATIN1XX")
    with open(path, "wb") as f:
        f.write(b"QSUB /tmp/caf\xe9.job;\n")
    text = mbox.receive(box)
    assert text.encode("utf-8", "surrogateescape") == b"QSUB /tmp/caf\xe9.job;"


# -- where replies and wake-ups may go ------------------------------------------------

@pytest.mark.parametrize("host", [
    "localhost", "vm", "node1.example.org", "a-b.c_d.example", "x" * 63, ".".join(["abc"] * 60),
])
def test_valid_host_names(host):
    assert transport.valid_host(host)


@pytest.mark.parametrize("host", [
    "", ".", "..", "../etc", "a/b", "/", "a..b", ".lead", "trail.", "-dash", "dash-", "sp ace",
    "semi;colon", "nul\0", "new\nline", "x" * 64, ".".join(["abcd"] * 60), None, 7,
])
def test_invalid_host_names_cannot_become_addresses(host):
    assert not transport.valid_host(host)
    with pytest.raises(transport.BadAddress):
        transport.check_host(host)
    if isinstance(host, str):
        with pytest.raises(transport.BadAddress):
            transport.process_address(4711, host)
        with pytest.raises(transport.BadAddress):
            transport.sigfwd_address(host)


def _g(*parts):
    return os.path.join(paths.base(), *parts)


@pytest.mark.parametrize("tail", ["abcdefgh.inbox", "4711.inbox", "4711.3.inbox", "4711.inbox/"])
def test_answer_boxes_of_ours_are_valid_reply_addresses(home, tail):
    box = _g("mboxes", HOST, tail)
    assert transport.reply_address(box) == box
    assert transport.reply_address(box.replace("/mboxes/", "//mboxes/")) is not None


@pytest.mark.parametrize("box", [
    "/etc",
    "{tmp}/elsewhere",
    "/tmp/x/vm/1.inbox",
    "{G}/mboxes/{HOST}/../../../etc/1.inbox",
    "{G}/mboxes/{HOST}/./1.inbox",
    "{G}/mboxes/{HOST}/sub/1.inbox",
    "{G}/mboxes/1.inbox",
    "{G}/mboxes/bad!host/1.inbox",
    "{G}/mboxes/../mboxes/{HOST}/1.inbox",
    "{G}/mboxes/{HOST}/1.outbox",
    "{G}/mboxes/{HOST}/.inbox",
    "{G}/mboxes/{HOST}/1.inbox\0",
    "mboxes/{HOST}/1.inbox",
    "",
])
def test_other_places_are_refused_as_reply_addresses(home, box):
    box = box.format(G=paths.base(), HOST=HOST, tmp=str(home))
    with pytest.raises(transport.BadAddress):
        transport.reply_address(box)
    assert transport.owner(box) is None


@pytest.mark.parametrize("name, expected", [
    ("4711.inbox", (HOST, 4711)),
    ("4711.a2.inbox", (HOST, 4711)),
    ("0.inbox", None),
    ("abcdefgh.inbox", None),
    ("-1.inbox", None),
])
def test_only_a_positive_pid_is_an_owner_to_wake(home, name, expected):
    assert transport.owner(_g("mboxes", HOST, name)) == expected


def test_a_box_a_dead_process_left_empty_is_renewed_for_its_new_owner(home):
    """A box left behind (kill -9, a host back after a reboot) is reused by
    the next process with that PID.  Its last change must then be no older
    than that process, or a sender takes the owner for a stranger at a dead
    owner's PID and does not wake it (pidref.may_wake)."""
    with open("/proc/sys/kernel/ns_last_pid") as f:
        last = int(f.read())
    # Room for the processes other programs start during the wait below.
    left = range(last + 1, last + 3000)
    for pid in left:
        os.makedirs(_g("mboxes", HOST, "%d.inbox" % pid))
    old = max(os.stat(_g("mboxes", HOST, "%d.inbox" % pid)).st_ctime for pid in left)
    # Older than the start of any process made from now on, by more than
    # the slack the start-time check allows, and a second for the boot
    # time's whole seconds that a start time is counted from.
    while time.time() < old + pidref.SLACK + 1.1:
        time.sleep(0.1)
    made_r, made_w = os.pipe()
    done_r, done_w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.write(made_w, mbox.create_pid_box().encode())
            os.read(done_r, 1)
        finally:
            os._exit(0)
    try:
        box = os.read(made_r, 4096).decode()
        if child not in left:
            pytest.skip("other programs took the %d PIDs meanwhile (box %s)" % (len(left), box))
        assert transport.owner(box) == (HOST, child)
        # As the box was left, its new owner would pass for a stranger ...
        assert not pidref.may_wake(child, old)
        # ... as it is now, it is woken.
        assert transport.may_wake(box, transport.changed(box))
    finally:
        os.write(done_w, b"x")
        os.waitpid(child, 0)
        for fd in (made_r, made_w, done_r, done_w):
            os.close(fd)


def test_an_answer_wakes_its_owner_only_when_the_owner_is_no_stranger(home, monkeypatch):
    """wake_owner_if_safe: the owner looked up once, woken only when
    may_wake allows it (a process younger than its box is a stranger)."""
    from gsatellite.transport import base

    woken = []
    monkeypatch.setattr(base, "signal_process", lambda host, pid, sig: woken.append((host, pid)) or True)
    monkeypatch.setattr(pidref, "_kill", lambda pid, sig: woken.append((HOST, pid)) or True)
    monkeypatch.setattr(pidref, "_held", {})
    box = mbox.create_box("4711.inbox")
    monkeypatch.setattr(pidref, "started_at", lambda pid: time.time() + 100)
    assert transport.wake_owner_if_safe(box, transport.changed(box)) is False
    assert woken == []
    monkeypatch.setattr(pidref, "started_at", lambda pid: 1.0)
    assert transport.wake_owner_if_safe(box, transport.changed(box)) is True
    assert woken == [(HOST, 4711)]
    # Another host's process is woken through its forwarder, unchecked here.
    monkeypatch.setattr(pidref, "started_at", lambda pid: time.time() + 100)
    remote = mbox.create_box("4712.inbox", host="other.example.org")
    assert transport.wake_owner_if_safe(remote, transport.changed(remote)) is True
    assert woken[-1] == ("other.example.org", 4712)
    # No owner named: nobody.
    outside = os.path.join(str(home), "x", HOST, "4713.inbox")
    os.makedirs(outside)
    assert transport.wake_owner_if_safe(outside, None) is False
    assert len(woken) == 2


def _state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_a_box_outside_g_named_after_a_pid_wakes_nobody(home):
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        os.kill(sleeper.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while _state(sleeper.pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(sleeper.pid) == "T"
        outside = os.path.join(str(home), "x", HOST, "%d.inbox" % sleeper.pid)
        os.makedirs(outside)
        assert transport.wake_owner(outside) is False
        time.sleep(0.05)
        assert _state(sleeper.pid) == "T"
        # The same PID in a box of ours is woken: the test can fail.
        ours = mbox.create_box("%d.inbox" % sleeper.pid)
        assert transport.wake_owner(ours) is True
        deadline = time.monotonic() + 10
        while _state(sleeper.pid) == "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _state(sleeper.pid) != "T"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_waiter_on_a_bad_host_is_not_registered(home):
    os.makedirs(paths.job_dir("00001"))
    for host in ("../../etc", "a/b", ""):
        with pytest.raises(transport.BadAddress):
            waiters.add("00001", host, "/tmp/some.fifo")
    assert waiters.registrations("00001") == []


def test_a_stored_waiter_on_a_bad_host_gets_nothing(home, capsys):
    os.makedirs(paths.job_dir("00001"))
    with open(paths.job_file("00001", waiters.WAITERS), "w") as f:
        f.write("../../.. /tmp/some.fifo\n")
    waiters.notify("00001", 0, HOST)
    assert "invalid host name" in capsys.readouterr().out
    assert not os.path.exists(os.path.join(paths.base(), "..", "..", "..", "sigfwd.inbox"))
    assert waiters.registrations("00001") == []


def test_inbox_logs_each_skipped_entry_once(home):
    lines = []
    inbox = transport.open_inbox(tag="log", log=lines.append)
    os.mkfifo(os.path.join(inbox.address, "message.x"))
    transport.send(inbox.address, "AFTER;")
    assert inbox.receive() == "AFTER;"
    assert inbox.receive() is None
    assert lines == ["bad message message.x discarded: not a message file: a FIFO"]
    inbox.close()
    assert not os.path.exists(inbox.address)


def test_boxes_of_processes_that_are_gone_are_swept_and_nothing_else(home):
    """Found by two reviews: boxes of processes killed with kill -9
    (clients, sputniks) were left for ever, hundreds after a few hours."""
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os._exit(0)
    os.waitpid(child, 0)  # reaped: no process has that PID now
    gone = [mbox.create_box("%d.inbox" % child), mbox.create_box("%d.3.inbox" % child)]
    mbox.send(gone[0], "QSUB x;")  # unread: nobody would read it
    mine = mbox.create_pid_box()
    other = mbox.create_box("notapid.inbox")
    alias = mbox.create_alias(mine, mbox.SIGFWD_ALIAS)
    not_a_box = os.path.join(os.path.dirname(mine), "%d.inbox.x" % child)
    os.mkdir(not_a_box)
    if pidref.start_time(child) is not None:
        pytest.skip("another process took PID %d meanwhile" % child)
    assert mbox.sweep_dead() == 2
    assert not any(os.path.lexists(b) for b in gone)
    assert all(os.path.lexists(p) for p in (mine, other, alias, not_a_box))
    assert mbox.sweep_dead() == 0


def test_the_box_a_dead_forwarder_left_is_its_successors_to_take_over(home):
    """Found by the review of 1fb93f7: the sweep removed a killed
    forwarder's box (a DELEGATE_ACTION unread there) in the moment before
    the new forwarder took over what it held."""
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os._exit(0)
    os.waitpid(child, 0)
    box = mbox.create_box("%d.inbox" % child)
    mbox.send(box, "DELEGATE_ACTION /x;")
    mbox.create_alias(box, mbox.SIGFWD_ALIAS)
    if pidref.start_time(child) is not None:
        pytest.skip("another process took PID %d meanwhile" % child)
    assert mbox.sweep_dead() == 0
    assert mbox.pending(box) != []

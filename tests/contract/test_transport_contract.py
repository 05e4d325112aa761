"""The contract every transport keeps (run against each of ``TRANSPORTS``).

Order is kept; each message is consumed exactly once, even by two readers
in two processes; an unread message can be withdrawn and a read one
cannot; a wake-up sent while the receiver is between "inbox empty" and
going to sleep is not lost; and an entry that is not a valid message is
skipped with a log line, taken out of the way and never followed or opened
in a way that could block.  Receiving runs in a child process with a
deadline wherever a regression could hang, so it fails instead.
"""

import json
import os
import select
import signal
import time

import pytest

from gsatellite import transport
from gsatellite.transport.wake import Sleeper

from .transports import TRANSPORTS, forget, remove_queues, use_temp_home

HOST = "contract.example.org"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    use_temp_home(monkeypatch, tmp_path / "home", HOST)
    yield tmp_path
    remove_queues(str(tmp_path / "home" / ".gsatellite"))
    forget()


@pytest.fixture(params=TRANSPORTS, ids=lambda t: t.__name__)
def factory(request):
    return request.param()


class Child:
    """``fn(talk)`` in a forked process; ``talk.say``/``talk.hear`` exchange
    lines with the test, and ``result()`` is fn's JSON-able return value,
    or a test failure if the child is still busy at the deadline."""

    def __init__(self, fn):
        up_r, up_w = os.pipe()
        down_r, down_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the child
            os.close(up_r)
            os.close(down_w)
            code = 0
            try:
                out = {"value": fn(_Talk(down_r, up_w))}
            except BaseException as e:
                out, code = {"error": repr(e)}, 1
            os.write(up_w, (json.dumps(out) + "\n").encode())
            os._exit(code)
        os.close(up_w)
        os.close(down_r)
        self.talk = _Talk(up_r, down_w)

    def say(self, line):
        self.talk.say(line)

    def hear(self, timeout=10):
        line = self.talk.hear(timeout)
        if line is None:
            self.kill()
            pytest.fail("child %d blocked for %ss" % (self.pid, timeout))
        return line

    def result(self, timeout=10):
        out = json.loads(self.hear(timeout))
        os.waitpid(self.pid, 0)
        if "error" in out:
            pytest.fail("child failed: %s" % out["error"])
        return out["value"]

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except OSError:
            pass


class _Talk:
    def __init__(self, rfd, wfd):
        self.rfd, self.wfd, self.buf = rfd, wfd, b""

    def say(self, line):
        os.write(self.wfd, (line + "\n").encode())

    def hear(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            if not select.select([self.rfd], [], [], left)[0]:
                return None
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def drain(inbox):
    out = []
    while True:
        msg = inbox.receive()
        if msg is None:
            return out
        out.append(msg)


# -- addresses ------------------------------------------------------------------------

def test_an_address_is_its_wire_form(factory):
    inbox = factory.open_inbox()
    address = inbox.address
    assert isinstance(address, transport.Address) and address.kind == factory.kind
    assert transport.address(str(address)) == address
    assert transport.exists(address)
    inbox.close()
    assert not transport.exists(address)
    with pytest.raises(transport.Unreachable):
        transport.send(address, "ALIVE?;")


def test_a_closed_inbox_cannot_receive(factory):
    inbox = factory.open_inbox()
    inbox.close()
    with pytest.raises(transport.Unreachable):
        inbox.receive()


# -- order and exactly once --------------------------------------------------------

def test_order_is_kept_for_many_messages_sent_at_once(factory):
    inbox = factory.open_inbox()
    sent = ["ORDER %d;" % i for i in range(500)]
    for text in sent:
        transport.send(inbox.address, text)
    assert drain(inbox) == sent
    assert inbox.receive() is None


def test_two_readers_in_two_processes_see_each_message_once(factory):
    inbox = factory.open_inbox()
    address = inbox.address

    def reader(talk):
        mine = factory.reader(address)
        talk.say("ready")
        got = []
        while True:
            msg = mine.receive()
            if msg is None:
                time.sleep(0.001)
                continue
            if msg == "END;":
                return got
            got.append(msg)
            # A fast transport on a busy machine could let one reader take
            # everything before the other runs: give it a turn.
            time.sleep(0.0005)

    readers = [Child(reader), Child(reader)]
    for r in readers:
        assert r.hear() == "ready"
    sent = ["ONCE %d;" % i for i in range(400)]
    for text in sent:
        transport.send(address, text)
    # Messages are taken in order, so each END comes after every ONCE.
    for _ in readers:
        transport.send(address, "END;")
    results = [r.result(timeout=60) for r in readers]
    everything = [m for got in results for m in got]
    assert sorted(everything) == sorted(sent)
    assert len(everything) == len(set(everything))
    assert all(results), "both readers should have had a share: %s" % [len(g) for g in results]
    for got in results:
        assert got == sorted(got, key=sent.index)  # each share in send order
    assert inbox.receive() is None


# -- withdraw ------------------------------------------------------------------------------

def test_withdraw_takes_back_an_unread_message_only(factory):
    inbox = factory.open_inbox()
    receipt = transport.send(inbox.address, "TAKE BACK;")
    kept = transport.send(inbox.address, "KEEP;")
    assert transport.withdraw(receipt) is True
    assert transport.withdraw(receipt) is False  # nothing left to take back
    assert drain(inbox) == ["KEEP;"]
    assert transport.withdraw(kept) is False  # a reader has it


# -- no lost wake-up --------------------------------------------------------------------------

def test_a_wake_up_between_empty_inbox_and_sleep_is_not_lost(factory):
    def receiver(talk):
        sleeper = Sleeper()
        inbox = factory.open_inbox(pid=os.getpid(), tag="")
        talk.say(str(inbox.address))
        assert inbox.receive() is None
        talk.say("empty")
        talk.hear()  # the sender publishes and wakes us right here
        t0 = time.monotonic()
        signo = sleeper.sleep(20)
        slept = time.monotonic() - t0
        msg = inbox.receive()
        inbox.close()
        return {"signo": signo, "slept": slept, "msg": msg}

    child = Child(receiver)
    address = transport.address(child.hear())
    assert child.hear() == "empty"
    transport.send(address, "WAKE UP;")
    assert transport.wake_owner(address) is True
    child.say("go")
    out = child.result(timeout=30)
    assert out["signo"] == signal.SIGCONT
    assert out["slept"] < 5, "the wake-up was lost: slept %.1f s" % out["slept"]
    assert out["msg"] == "WAKE UP;"


# -- bad entries --------------------------------------------------------------------------------

BAD = [(t, name) for t in TRANSPORTS for name in t.BAD_ENTRIES]


@pytest.mark.parametrize("transport_class, name", BAD, ids=["%s-%s" % (t.__name__, n) for t, n in BAD])
def test_a_bad_entry_is_skipped_with_a_log_line_without_blocking(transport_class, name, tmp_path):
    factory = transport_class()
    limit = 100
    outside = str(tmp_path / "outside")
    os.makedirs(outside)
    inbox = factory.open_inbox(limit=limit)
    factory.plant(name, inbox, outside, limit)
    transport.send(inbox.address, "GOOD;")
    before = sorted(os.listdir(outside))

    def receive(talk):
        logs = []
        reader = factory.reader(inbox.address, limit=limit, log=logs.append)
        got = drain(reader)
        again = reader.receive()  # nothing left that would be seen again
        return {"got": got, "again": again, "logs": logs}

    out = Child(receive).result(timeout=10)
    assert out["got"] == ["GOOD;"]
    assert out["again"] is None
    assert len(out["logs"]) == 1, out["logs"]
    assert "discarded" in out["logs"][0]
    assert factory.leftovers(inbox) == []
    # Nothing outside the inbox was followed, read or removed.
    assert sorted(os.listdir(outside)) == before
    if name == "symlink_to_message":
        with open(os.path.join(outside, "looks-fine")) as f:
            assert f.read() == "ALIVE?;\n"

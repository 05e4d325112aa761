"""The shared daemon loop, driven in-process: timers, several inboxes,
asynchronous requests, internal errors, and withdrawal of unread requests."""

import os
import signal
import threading

import pytest

from gsatellite import config
from gsatellite import daemon as daemon_module
from gsatellite.daemon import Daemon
from gsatellite.transport import mbox, request
from gsatellite.protocol import split

from .conftest import Clock, answers_in


@pytest.fixture
def daemon(home):
    clock = Clock()
    d = Daemon(clock=clock)
    d.fake_clock = clock
    yield d
    d.shutdown()
    d.sleeper.release()



def test_timers_run_in_order_when_due_and_cancelled_ones_never(daemon):
    ran = []
    daemon.call_later(2, lambda: ran.append("b"))
    daemon.call_later(1, lambda: ran.append("a"))
    cancelled = daemon.call_later(1.5, lambda: ran.append("never"))
    daemon.cancel(cancelled)
    assert daemon.run_timers() == pytest.approx(1)
    assert ran == []
    daemon.fake_clock.t += 5
    assert daemon.run_timers() is None
    assert ran == ["a", "b"]


def test_every_repeats(daemon):
    ran = []
    daemon.every(1, lambda: ran.append(daemon.clock()))
    for _ in range(3):
        daemon.fake_clock.t += 1
        daemon.run_timers()
    assert ran == [1001, 1002, 1003]


def test_a_raising_handler_answers_internal_error(daemon, home):
    def broken(args, box):
        raise ZeroDivisionError("boom")

    daemon.handlers["QBOOM"] = broken
    client = mbox.create_pid_box(suffix=".t1")
    mbox.send(daemon.box, "QBOOM 1;%s" % client)
    mbox.send(daemon.box, "ALIVE?;%s" % client)
    daemon.once(timeout=0)
    assert answers_in(client) == ["qboom failed: internal error", "YES"]


def test_timers_run_between_messages(daemon, home):
    """A stream of messages must not starve a timer that is due."""
    seen = []
    daemon.handlers["STEP"] = lambda args, box: (daemon.fake_clock.__setattr__("t", daemon.clock() + 1), seen.append(args))[1]
    daemon.call_later(1.5, lambda: seen.append("timer"))
    for n in range(4):
        mbox.send(daemon.box, "STEP %d;" % n)
    daemon.once(timeout=0)
    assert seen.index("timer") == 2, seen


def test_ask_gets_the_answer_from_a_second_inbox(daemon, home):
    peer = mbox.create_pid_box(os.getpid(), suffix=".peer")
    got = []
    daemon.ask(peer, "HOLD", got.append, timeout=10)
    msg = mbox.receive(peer)
    command, reply_to = split(msg)
    assert command == "HOLD"
    assert reply_to != daemon.box and reply_to.endswith(".inbox")
    mbox.send(reply_to, "OK;%s" % peer)
    daemon.once(timeout=0)
    assert got == ["OK"]
    assert not os.path.exists(reply_to)  # the answer box is gone afterwards
    assert len(daemon.inboxes) == 1


def test_ask_deadline_withdraws_the_unread_request(daemon, home):
    peer = mbox.create_pid_box(os.getpid(), suffix=".peer")
    got = []
    daemon.ask(peer, "HOLD", got.append, timeout=30)
    daemon.once(timeout=0)
    assert got == []
    daemon.fake_clock.t += 31
    daemon.once(timeout=0)
    assert got == [None]
    assert mbox.receive(peer) is None  # withdrawn: the peer will never act on it
    daemon.once(timeout=0)
    assert got == [None]  # exactly once


def test_ask_withdraws_a_request_read_by_its_peer_only_once(daemon, home, monkeypatch):
    """Found by a review: a request the peer had read at the deadline was
    withdrawn again when the patience ran out; over queues its receipt
    can by then name a later message of ours, which was taken unread."""
    from gsatellite import transport

    peer = mbox.create_pid_box(os.getpid(), suffix=".peer")
    tried = []
    real = transport.withdraw
    monkeypatch.setattr(transport, "withdraw", lambda receipt: tried.append(receipt) or real(receipt))
    got = []
    daemon.ask(peer, "HOLD", got.append, timeout=30, patience=60)
    daemon.once(timeout=0)
    assert split(mbox.receive(peer))[0] == "HOLD"  # the peer has it
    daemon.fake_clock.t += 31
    daemon.once(timeout=0)
    assert got == [] and len(tried) == 1  # read: more patience
    daemon.fake_clock.t += 61
    daemon.once(timeout=0)
    assert got == [None] and len(tried) == 1


def test_ask_an_unreachable_peer_answers_none(daemon, home):
    got = []
    daemon.ask(os.path.join(str(home), "nowhere.inbox"), "HOLD", got.append, timeout=30)
    daemon.once(timeout=0)
    assert got == [None]


def test_withdraw_loses_to_a_reader_that_renamed_first(home):
    box = mbox.create_pid_box(suffix=".w")
    sent = mbox.send(box, "A;")
    assert mbox.receive(box) == "A;"
    assert mbox.withdraw(sent) is False
    sent = mbox.send(box, "B;")
    assert mbox.withdraw(sent) is True
    assert mbox.receive(box) is None


def test_request_timeout_withdraws_unread_commands(home, monkeypatch):
    monkeypatch.setenv("GSAT_ANSWER_TIMEOUT", "0.2")
    config.reset()
    box = mbox.create_pid_box(99999999, suffix=".srv")  # nobody reads it
    with pytest.raises(request.AnswerTimeout) as info:
        request.post(box, ["QSUB /a", "QSUB /b"], wake_owner=False)
    assert info.value.unread == [0, 1]
    assert mbox.receive(box) is None
    assert [b for b in os.listdir(os.path.dirname(box)) if ".srv" not in b] == []


def test_shutdown_ends_pending_asks_with_none(daemon, home):
    """A client waiting on a deferred answer hears at shutdown, not at its
    own time-out; the unread request is withdrawn."""
    peer = mbox.create_pid_box(os.getpid(), suffix=".peer2")
    got = []
    daemon.ask(peer, "HOLD", got.append, timeout=30)
    daemon.shutdown()
    assert got == [None]
    assert mbox.receive(peer) is None


class _LateDaemon(Daemon):
    """Publishes one message just after its first pass ended empty-handed
    on every inbox, as a sender racing with it would; ``wake``: that
    sender's SIGCONT comes too (it stays pending: the loop blocks it)."""

    wake = True

    def take_messages(self):
        count = super().take_messages()
        if not getattr(self, "published", False):
            self.published = True
            mbox.send(self.box, "LATE 1;")
            if self.wake:
                signal.pthread_kill(threading.main_thread().ident, signal.SIGCONT)
        return count


@pytest.mark.parametrize("wake", [True, False])
def test_a_message_published_after_a_pass_is_taken_when_its_wake_up_came(home, wake):
    d = _LateDaemon(clock=Clock())
    d.wake = wake
    try:
        seen = []
        d.handlers["FIRST"] = lambda args, box: seen.append("FIRST")
        d.handlers["LATE"] = lambda args, box: seen.append("LATE")
        mbox.send(d.box, "FIRST 1;")
        d.once(timeout=0)
        # With its SIGCONT the late message is taken in the same turn of the
        # loop; without one (a sender that does not wake us) no second look
        # is taken for it: it waits for the next wake-up or poll.
        assert seen == (["FIRST", "LATE"] if wake else ["FIRST"])
        d.once(timeout=0)
        assert seen == ["FIRST", "LATE"]
    finally:
        d.shutdown()
        d.sleeper.release()


def test_an_answer_into_its_own_inbox_is_refused(daemon, home):
    """Found by a review: ``ALIVE?;<the daemon's own inbox>`` made it answer
    itself, the answer's answer too, for ever (all its CPU; SIGTERM never
    taken).  Any spelling of its box's path is its own."""
    spelled = daemon.box.replace("/mboxes/", "/mboxes//") + "/"
    mbox.send(daemon.box, "ALIVE?;%s" % daemon.box)
    mbox.send(daemon.box, "ALIVE?;%s" % spelled)
    assert daemon.once(timeout=0) is None
    assert answers_in(daemon.box) == []


def test_unknown_command_is_an_answer_and_gets_none(daemon, home):
    """Two daemons that answer each other's answers (``ALIVE?;<controller>``
    sent to the forwarder) would exchange UNKNOWN COMMAND for ever."""
    client = mbox.create_pid_box(suffix=".t9")
    mbox.send(daemon.box, "YES;%s" % client)
    mbox.send(daemon.box, "UNKNOWN COMMAND;%s" % client)
    daemon.once(timeout=0)
    assert answers_in(client) == ["UNKNOWN COMMAND"]


def test_sigterm_ends_a_stream_of_messages_that_never_ends(daemon, home):
    """Each message brings the next: the pass never finds its inboxes
    empty, and a SIGTERM must still end it (it is blocked, and was taken
    only between passes)."""
    taken = []

    def step(args, box):
        taken.append(args)
        if len(taken) < 5000:  # the test ends without the fix too, and fails
            mbox.send(daemon.box, "STEP;")

    daemon.handlers["STEP"] = step
    mbox.send(daemon.box, "STEP;")
    os.kill(os.getpid(), signal.SIGTERM)  # blocked by the daemon's sleeper: pending
    daemon.once(timeout=0)
    assert daemon.stop
    assert len(taken) <= 2 * daemon_module.SIGNAL_LOOK, len(taken)


def test_a_periodic_job_that_fails_runs_again(daemon):
    runs = []

    def flaky():
        runs.append(daemon.clock())
        raise OSError("registry is not a directory")

    daemon.every(10, flaky)
    for _ in range(3):
        daemon.fake_clock.t += 10
        daemon.run_timers()
    assert len(runs) == 3


@pytest.mark.parametrize("answer", ["HOLD FAILED", "SIGNAL FAILED"])
def test_an_answer_that_reads_as_a_request_is_not_handled(daemon, home, answer):
    """Found by the review of 0524a8e: two sputniks sent ``SIGNAL FAILED``
    with each other's address answered each other for ever (SIGNAL with
    the argument FAILED fails), and a stray ``HOLD FAILED`` held a job."""
    verb = answer.split()[0]
    calls = []
    daemon.handlers[verb] = lambda args, box: calls.append(args) or answer
    client = mbox.create_pid_box(suffix=".t8")
    mbox.send(daemon.box, "%s;%s" % (answer, client))
    daemon.once(timeout=0)
    assert calls == [] and answers_in(client) == []


def test_a_wake_up_taken_by_a_pass_outside_the_loop_is_not_slept_over(daemon, home):
    """Found by the review of 0524a8e: the controller's tick takes messages
    (after a lost sputnik); signals looked at during a long run of them
    consumed the SIGCONT of a message in an inbox that pass had already
    looked at, and the daemon slept the whole poll over it."""
    side = mbox.create_pid_box(suffix=".s1")
    got = []

    def on_side(text):
        got.append(text)
        if len(got) == 10:  # another sender publishes in the main inbox, and wakes us
            mbox.send(daemon.box, "PING;")
            os.kill(os.getpid(), signal.SIGCONT)

    daemon.serve(mbox.Inbox(side), on_side)
    daemon.handlers["PING"] = lambda args, box: got.append("PING")

    def tick():
        if "burst" not in got:
            got.append("burst")
            for i in range(daemon_module.SIGNAL_LOOK + 6):
                mbox.send(side, "A%d;" % i)
            daemon.take_messages()
        return 30.0

    daemon.tick = tick
    slept = []  # (PING handled?) at every sleep, which returns at once here
    daemon.sleeper.sleep = lambda wait: slept.append("PING" in got)
    daemon.once()
    daemon.once()
    assert "PING" in got
    assert False not in slept, "slept while PING waited in the main inbox"


def test_a_periodic_timer_longer_than_its_period_does_not_hold_the_loop(daemon):
    """Found by a review: with liveness_interval = 1e-9 the timer was due
    again after every run, run_timers never returned, and the daemon read
    no message and took no SIGTERM.  A timer due again waits for the next
    call."""
    runs, now = [], [100.0]

    def clock():
        now[0] += 1.0  # every look finds a second gone: longer than the period
        return now[0]

    def slow():
        runs.append(1)
        if len(runs) > 50:
            raise SystemExit("run_timers never returned")

    daemon.clock = clock
    daemon.every(0.5, slow)
    assert daemon.run_timers() == 0
    assert len(runs) == 1
    daemon.run_timers()
    assert len(runs) == 2

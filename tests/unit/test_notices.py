"""gqwait notices for waiters on other hosts, kept until delivered
(lib/gsatellite/controller/notices.py, issue 17 item 1)."""

import os

from gsatellite import hosts, paths, waiters
from gsatellite.controller import notices

from .conftest import new_job


class FakeDaemon:
    def __init__(self):
        self.asked = []  # (address, command, on_answer)
        self.timers = []

    def ask(self, address, command, on_answer, timeout):
        self.asked.append((address, command, on_answer))

    def call_later(self, seconds, fn):
        self.timers.append(fn)
        return fn


def _notices(now):
    daemon = FakeDaemon()
    return daemon, notices.Notices(daemon, 60, lambda: now[0])


def test_a_notice_without_answer_is_sent_again_until_delivered(home):
    now = [1000.0]
    daemon, n = _notices(now)
    job_id = new_job(home)[1]
    waiters.add(job_id, "h2", "/tmp/w.fifo")
    waiters.add(job_id, "h3", "/tmp/v.fifo")
    waiters.notify(job_id, 3, "testhost", n.send)
    assert len(daemon.asked) == 2
    daemon.asked.pop()[2]("0")  # h3 told
    # The registration stays until the notice is delivered.
    assert waiters.registrations(job_id) == [("h2", "/tmp/w.fifo")]
    (address, command, answer), = daemon.asked
    assert address.endswith("/mboxes/h2/sigfwd.inbox")
    assert command == "WRITE_FIFO /tmp/w.fifo %s 3" % job_id
    n.send(job_id, "h2", "/tmp/w.fifo", "%s 3" % job_id)  # under way: not asked twice
    assert len(daemon.asked) == 1
    answer(None)  # no forwarder answered
    assert list(n.kept) == [(job_id, "h2", "/tmp/w.fifo", "%s 3" % job_id)]
    (retry,) = daemon.timers
    retry()
    assert len(daemon.asked) == 2
    assert waiters.registrations(job_id) == [("h2", "/tmp/w.fifo")]
    daemon.asked[1][2]("0")
    assert n.kept == {} and waiters.registrations(job_id) == []


def test_a_gone_waiter_is_dropped(home):
    daemon, n = _notices([0.0])
    n.send("00007", "h2", "/tmp/w.fifo", "00007 DELETED")
    daemon.asked[0][2]("1")
    assert n.kept == {} and daemon.timers == []
    # A classic forwarder does not know WRITE_FIFO: asking again is no use.
    n.send("00008", "h2", "/tmp/w.fifo", "00008 0")
    daemon.asked[1][2]("UNKNOWN COMMAND")
    assert n.kept == {} and daemon.timers == []


def test_a_notice_for_a_lost_host_is_dropped_after_host_lost_after(home):
    now = [1000.0]
    daemon, n = _notices(now)
    n.send("00007", "h2", "/tmp/w.fifo", "00007 0")
    daemon.asked[0][2](None)
    os.makedirs(paths.run_dir("h2"))
    hosts.beat("h2")
    os.utime(paths.heartbeat_file("h2"), (1, 1))  # silent since long ago
    now[0] += 30
    daemon.timers.pop()()
    assert len(daemon.asked) == 2  # not yet: kept for less than host_lost_after
    daemon.asked[1][2](None)
    now[0] += 40
    daemon.timers.pop()()
    assert n.kept == {} and len(daemon.asked) == 2


def test_a_bad_host_is_never_asked(home):
    daemon, n = _notices([0.0])
    n.send("00007", "../etc", "/tmp/w.fifo", "00007 0")
    assert daemon.asked == [] and n.kept == {}

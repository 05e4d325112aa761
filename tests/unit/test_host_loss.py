"""A dead host's jobs do not block the queue (controller/hostloss.py,
issue 17 item 3), in process with a fake clock and OS seam."""

import os
import time

from gsatellite import hosts, paths, states, waiters
from gsatellite import protocol as P
from gsatellite.transport import mbox

from .test_controller_handlers import ask, running_with_sputnik, submit


def _silent_since(host, when):
    hosts.beat(host)
    os.utime(paths.heartbeat_file(host), (when, when))


def _lose(c, home, host="node2", job_type=None):
    """A running job of ``host`` found by a starting controller, one queued
    behind it; ``host`` falls silent; returns ``(lost job, queued job,
    the lost job's sputnik box)``."""
    job_id, box = running_with_sputnik(c, home, host)
    if job_type:
        c.store.write(job_id, "job.type", job_type)
    waiters.add(job_id, "testhost", "/nonexistent/w.fifo")
    queued = submit(c, home, "next.job")
    _silent_since(host, c.fake_now() - 1)
    c.recover()
    c.schedule()
    assert c.store.state(job_id) == states.RUNNING and c.store.state(queued) == states.QUEUED
    assert "launch_sputnik" not in c.system.names()  # its slot is taken
    return job_id, queued, box


def _advance(c, seconds):
    c.fake_clock.advance(seconds)
    c.fake_now.advance(seconds)
    c.run_timers()
    if c.need_schedule:
        c.schedule()


def test_a_job_of_a_lost_host_fails_with_the_reason_and_frees_its_slot(make_controller, home):
    c = make_controller(host_lost_after=30)
    job_id, queued, _ = _lose(c, home)
    _advance(c, 20)
    assert c.store.state(job_id) == states.RUNNING  # not yet
    _advance(c, 15)
    assert c.store.state(job_id) == states.FAILED
    assert c.store.read(job_id, "job.reason").strip() == "host node2 lost"
    assert waiters.registrations(job_id) == []  # told
    assert c.store.state(queued) == states.RUNNING  # the slot went to the next job


def test_a_host_that_beats_keeps_its_jobs(make_controller, home):
    c = make_controller(host_lost_after=30)
    job_id, _, _ = _lose(c, home)
    for _ in range(10):
        hosts.beat("node2")
        os.utime(paths.heartbeat_file("node2"), (c.fake_now(), c.fake_now()))
        _advance(c, 10)
    assert c.store.state(job_id) == states.RUNNING


def test_a_heartbeat_dated_far_ahead_keeps_no_lost_host_alive(make_controller, home):
    """``touch -d 2099 heartbeat`` by hand must not keep a lost host's jobs
    running for ever; a clock a minute ahead still counts as a beat."""
    c = make_controller(host_lost_after=30)
    job_id, _, _ = _lose(c, home)
    ahead = c.fake_now() + 60
    os.utime(paths.heartbeat_file("node2"), (ahead, ahead))
    _advance(c, 35)
    assert c.store.state(job_id) == states.RUNNING
    far = c.fake_now() + 75 * 365 * 86400
    os.utime(paths.heartbeat_file("node2"), (far, far))
    _advance(c, 5)
    assert c.store.state(job_id) == states.FAILED
    assert c.store.read(job_id, "job.reason").strip() == "host node2 lost"


def test_a_fifo_put_in_place_of_our_heartbeat_is_replaced_by_the_next_beat(home):
    """A touch keeps a FIFO a FIFO, which is read as no heartbeat: this host
    would count as lost to the others for as long as it beats."""
    assert hosts.beat("node2")
    path = paths.heartbeat_file("node2")
    os.unlink(path)
    os.mkfifo(path)
    assert hosts.last_beat("node2") is None  # not read, never blocks
    assert hosts.beat("node2")
    assert hosts.last_beat("node2") is not None and not hosts.lost("node2", 30)


def test_a_job_type_that_may_run_again_is_queued_again(make_controller, home):
    c = make_controller(host_lost_after=30)
    job_id, _, _ = _lose(c, home, job_type="gtransfer")
    _advance(c, 35)
    assert c.store.state(job_id) in (states.QUEUED, states.RUNNING)
    assert c.store.read(job_id, "job.restarts").strip() == "1"
    assert c.store.read(job_id, "job.execHost").strip() == "testhost"  # started here now


def test_the_late_report_of_a_live_sputnik_is_taken_once(make_controller, home):
    c = make_controller(host_lost_after=30)
    job_id, _, box = _lose(c, home)
    _advance(c, 35)
    assert c.store.state(job_id) == states.FAILED
    # A report from anyone but the job's sputnik is ignored.
    ask(c, P.terminated(job_id, 0))
    assert c.store.state(job_id) == states.FAILED
    # The host was only cut off: its sputnik reports the real end.
    c.dispatch(P.message(P.terminated(job_id, 0), box))
    assert c.store.state(job_id) == states.FINISHED
    assert c.store.read(job_id, "job.reason", "").strip() == ""
    c.dispatch(P.message(P.terminated(job_id, 0), box))  # said twice: once counted
    assert c.store.state(job_id) == states.FINISHED


def test_a_report_from_an_earlier_supervisor_does_not_end_the_current_run(make_controller, home):
    c = make_controller()
    job_id, box = running_with_sputnik(c, home, "node2", pid=4242)
    old = mbox.create_box("4141.inbox", "node3")
    c.dispatch(P.message(P.terminated(job_id, 0), old))
    assert c.store.state(job_id) == states.RUNNING
    c.dispatch(P.message(P.terminated(job_id, 0), box))
    assert c.store.state(job_id) == states.FINISHED


def test_a_request_that_got_no_answer_names_a_silent_host(home):
    from gsatellite.client import operations
    from gsatellite.transport import request

    _silent_since("node2", time.time() - 30)
    why = operations._why(request.RequestError(), ("node2", 7))
    assert why.startswith("gsatlc (PID 7 on node2) went away without answering; node2 has shown no sign of life")
    hosts.beat("node2")
    assert operations._why(request.RequestError(), ("node2", 7)) == "gsatlc (PID 7 on node2) went away without answering"


def test_a_lost_hosts_restart_counted_by_a_controller_killed_before_queuing_is_counted_once(
        make_controller, home, monkeypatch):
    """As at a job's end (lifecycle.job_ended): a controller killed after
    it counted the restart and before it queued the job had the next one
    count it again."""
    c = make_controller(host_lost_after=30)
    job_id, _, _ = _lose(c, home, job_type="gtransfer")
    c.store.write(job_id, "job.start", "1700000000\n")
    real = c.store.transition

    def killed(job, new, *a, **k):
        if job == job_id and new == states.QUEUED:
            raise KeyboardInterrupt("kill -9")  # nothing after this line runs
        return real(job, new, *a, **k)

    monkeypatch.setattr(c.store, "transition", killed)
    try:
        _advance(c, 35)
    except KeyboardInterrupt:
        pass
    assert (c.store.state(job_id), c.store.read(job_id, "job.restarts").strip()) == (states.RUNNING, "1")
    c2 = make_controller(host_lost_after=30)
    c2.host_lost(job_id, "node2")  # what the next controller does once it finds the host lost
    assert (c2.store.state(job_id), c2.store.read(job_id, "job.restarts").strip()) == (states.QUEUED, "1")
    assert not os.path.exists(paths.job_file(job_id, "job.restarting"))

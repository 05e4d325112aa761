"""The controller's verbs, in process, with a fake clock and OS seam.

Requests go through ``Controller.dispatch`` as they would from the box;
answers are read from a real answer box.  A job's sputnik is a box that the
test reads and answers (or never answers) by hand.
"""

import itertools
import os

import pytest

from gsatellite import events, paths, states
from gsatellite import protocol as P
from gsatellite.transport import mbox

from .conftest import answers_in, requests_in

_boxes = itertools.count(1)
REMOTE = "node2"  # the fake sputnik's host: no signal is ever sent to its PID


def client_box():
    return mbox.create_pid_box(suffix=".t%d" % next(_boxes))


def ask(c, command):
    """Dispatch ``command`` as a client would; returns the answers so far."""
    box = client_box()
    c.dispatch(P.message(command, box))
    return box, answers_in(box)


def script(home, name="work.job", body="#!/bin/bash\nexit 0\n"):
    path = os.path.join(str(home), name)
    with open(path, "w") as f:
        f.write(body)
    return path


def submit(c, home, name="work.job", body="#!/bin/bash\nexit 0\n"):
    _, answers = ask(c, P.qsub(script(home, name, body)))
    assert len(answers) == 1 and answers[0].isdigit(), answers
    return answers[0]


def recorder(c, *names):
    seen = []
    for name in names:
        c.bus.subscribe(name, lambda event, job_id, **info: seen.append((event, job_id, info)))
    return seen


def running_with_sputnik(c, home, host=REMOTE, pid=4242):
    """A running job whose sputnik is the box ``PID.inbox`` on ``host``."""
    job_id = submit(c, home)
    c.store.transition(job_id, states.RUNNING)
    c.store.write(job_id, "job.execHost", host)
    c.store.write(job_id, "sputnik.pid", pid)
    return job_id, mbox.create_box("%d.inbox" % pid, host)


def answer_sputnik_requests(box, answer):
    got = requests_in(box)
    for _, reply_to in got:
        mbox.send(reply_to, P.message(answer, box))
    return [command for command, _ in got]


# -- QSUB -----------------------------------------------------------------------------

def test_qsub_answers_the_id_and_queues_a_copy(make_controller, home):
    c = make_controller()
    job_id = submit(c, home, body="#!/bin/bash\necho copied\n")
    assert job_id == "00000"
    assert c.store.state(job_id) == states.QUEUED
    with open(c.store.job_path(job_id)) as f:
        assert f.read() == "#!/bin/bash\necho copied\n"
    assert c.store.read(job_id, "job.submitted") == str(int(c.fake_now()))
    assert c.store.read(job_id, "job.submitBox")
    assert c.need_schedule


def test_qsub_reads_the_script_once_and_copies_the_bytes_its_directives_came_from(make_controller, home,
                                                                                 monkeypatch):
    # The script is replaced (a user's editor: a new file renamed over it)
    # right after the controller opened it: the copy is what was read, as
    # are the directives, and the path is not opened a second time.
    c = make_controller()
    path = script(home, body="#!/bin/bash\n#GSAT -N first\necho one\n")
    real_open, opened = os.open, []

    def open_then_replace(p, *args, **kwargs):
        fd = real_open(p, *args, **kwargs)
        if p == path:
            opened.append(p)
            if len(opened) == 1:
                with open(path + ".new", "w") as f:
                    f.write("#!/bin/bash\n#GSAT -N second\necho two\n")
                os.rename(path + ".new", path)
        return fd

    monkeypatch.setattr(os, "open", open_then_replace)
    _, answers = ask(c, P.qsub(path))
    monkeypatch.setattr(os, "open", real_open)
    job_id = answers[0]
    assert len(opened) == 1
    assert c.store.read(job_id, "job.name") == "first"
    with open(c.store.job_path(job_id)) as f:
        assert f.read() == "#!/bin/bash\n#GSAT -N first\necho one\n"
    assert os.stat(c.store.job_path(job_id)).st_mode & 0o777 == 0o700


def test_a_full_disk_while_the_read_script_is_written_leaves_no_job(make_controller, home, monkeypatch):
    import errno

    from gsatellite import jobstore

    c = make_controller()
    real = jobstore.write_all

    def full(fd, data):
        if data.startswith(b"#!/bin/bash"):  # the script's copy, not a job attribute
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(jobstore, "write_all", full)
    _, answers = ask(c, P.qsub(script(home)))
    assert answers == [P.QSUB_FAILED]
    assert c.store.ids() == [] and os.listdir(paths.jobs_dir()) == []


def test_a_script_waiting_for_the_copier_is_not_held_in_memory(make_controller, home):
    # Twenty 1 MiB scripts behind a slow copy (the worker takes larger
    # ones): what waits is a path, not the bytes read for the directives.
    import gc
    import tracemalloc

    c = make_controller(max_job_size=8 << 20)
    waiting = []
    c.copier.submit = lambda work, finish: waiting.append((work, finish))
    paths_ = [script(home, name="b%d.job" % i, body="#!/bin/sh\n" + "#" * (1 << 20)) for i in range(20)]
    gc.collect()
    tracemalloc.start()
    try:
        for path in paths_:
            ask(c, P.qsub(path))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(waiting) == 20
    assert held < 2 << 20, held


def test_qsub_refuses_a_script_over_max_job_size(make_controller, home, capsys):
    c = make_controller(max_job_size=100)
    _, answers = ask(c, P.qsub(script(home, body="#" * 101)))
    assert answers == [P.QSUB_FAILED]
    assert "more than max_job_size (100)" in capsys.readouterr().out
    assert c.store.ids() == []
    assert os.listdir(paths.jobs_dir()) == []
    # Exactly the limit is fine.
    _, answers = ask(c, P.qsub(script(home, body="#" * 100)))
    assert answers[0].isdigit()


def test_qsub_refuses_what_is_not_a_readable_regular_file(make_controller, home):
    c = make_controller()
    fifo = os.path.join(str(home), "fifo.job")
    os.mkfifo(fifo)
    for path in (fifo, str(home), "relative.job", os.path.join(str(home), "missing.job")):
        assert ask(c, P.qsub(path))[1] == [P.QSUB_FAILED], path
    assert os.listdir(paths.jobs_dir()) == []


def test_large_scripts_are_copied_off_the_loop_and_answered_in_order(make_controller, home):
    c = make_controller()
    c.inline_copy = 10  # every script below goes to the worker but the tiny one
    big = script(home, "big.job", "#!/bin/bash\n" + "#" * 200000 + "\n")
    box_a = client_box()
    c.dispatch(P.message(P.qsub(big), box_a))
    assert answers_in(box_a) == []  # deferred: the loop is free meanwhile
    assert ask(c, P.ALIVE)[1] == [P.YES]
    # A small script submitted meanwhile waits its turn behind the big one.
    box_b = client_box()
    c.dispatch(P.message(P.qsub(script(home, "tiny.job", "x")), box_b))
    assert answers_in(box_b) == []
    deadline = 200
    while c.copier.busy() and deadline:
        assert c.system.woken.wait(10), "the copier never woke the loop"
        c.system.woken.clear()
        c.maintain()
        deadline -= 1
    assert answers_in(box_a) == ["00000"]
    assert answers_in(box_b) == ["00001"]
    assert c.store.ids(states.QUEUED) == ["00000", "00001"]
    assert os.path.getsize(c.store.job_path("00000")) == os.path.getsize(big)
    assert ("wake", c.pid) in c.system.calls


def test_shutdown_abandons_a_copy_under_way_and_says_so(make_controller, home):
    c = make_controller()
    c.inline_copy = 0
    # The worker is not started: the copy cannot finish before shutdown.
    c.copier.running = True
    box = client_box()
    c.dispatch(P.message(P.qsub(script(home)), box))
    assert answers_in(box) == []
    assert os.path.isdir(paths.job_staging_dir("00000"))
    c.copier.running = False
    c.shutdown()
    assert answers_in(box) == [P.QSUB_FAILED]
    assert not os.path.exists(paths.job_staging_dir("00000"))
    assert c.store.ids() == []


def test_a_handler_that_raises_answers_internal_error(make_controller, home, capsys):
    c = make_controller()

    def broken():
        raise RuntimeError("disk on fire")

    c.store.new_id = broken
    assert ask(c, P.qsub(script(home)))[1] == ["qsub failed: internal error"]
    out = capsys.readouterr().out
    assert "RuntimeError: disk on fire" in out  # the traceback is logged
    # The controller goes on serving.
    assert ask(c, P.ALIVE)[1] == [P.YES]


# -- QHOLD / QSIG: asynchronous requests to the sputnik -------------------------

def test_qhold_of_queued_and_held_jobs_needs_no_sputnik(make_controller, home):
    c = make_controller()
    job_id = submit(c, home)
    assert ask(c, P.command(P.QHOLD, job_id))[1] == [P.OK]
    assert c.store.state(job_id) == states.HELD
    assert ask(c, P.command(P.QHOLD, job_id))[1] == [P.OK]
    assert ask(c, P.command(P.QHOLD, "77"))[1] == [P.invalid_id(P.QHOLD)]
    c.store.transition(job_id, states.FINISHED)
    assert ask(c, P.command(P.QHOLD, job_id))[1] == [P.failed(P.QHOLD)]


def test_qhold_of_a_running_job_is_answered_when_the_sputnik_answers(make_controller, home):
    c = make_controller()
    job_id, sputnik = running_with_sputnik(c, home)
    seen = recorder(c, events.JOB_ABORT)
    box, answers = ask(c, P.command(P.QHOLD, job_id))
    assert answers == []
    assert ask(c, P.ALIVE)[1] == [P.YES]  # not blocked meanwhile
    c.need_schedule = False
    assert answer_sputnik_requests(sputnik, P.OK) == [P.HOLD]
    c.take_messages()
    assert answers_in(box) == [P.OK]
    assert c.store.state(job_id) == states.HELD
    assert seen == [(events.JOB_ABORT, job_id, {"reason": "held while running"})]
    assert c.need_schedule


@pytest.mark.parametrize("after", ["released", "started again"])
def test_a_hold_released_before_its_answer_is_ok_and_holds_no_new_run(make_controller, home, after):
    """Seen in CI: the sputnik reports HELD and answers the HOLD nearly
    together; a QRLS handled in between made the answer find the job
    queued ("qhold failed"), and a new run started by then would have
    been marked held."""
    c = make_controller()
    job_id, sputnik = running_with_sputnik(c, home)
    box, answers = ask(c, P.command(P.QHOLD, job_id))
    assert answers == []
    c.held(job_id, sputnik)  # the sputnik's report comes first
    assert ask(c, P.command(P.QRLS, job_id))[1] == [P.OK]
    if after == "started again":
        c.store.transition(job_id, states.RUNNING)
        c.store.write(job_id, "sputnik.pid", 4343)  # another sputnik's run
    assert answer_sputnik_requests(sputnik, P.OK) == [P.HOLD]
    c.take_messages()
    assert answers_in(box) == [P.OK]
    assert c.store.state(job_id) == (states.QUEUED if after == "released" else states.RUNNING)


@pytest.mark.parametrize("sender", ["no box", "a stranger", "the sputnik of an earlier run"])
def test_a_held_report_not_from_the_jobs_sputnik_holds_nothing(make_controller, home, sender):
    # A forged HELD, or a late one from the sputnik of a run released and
    # started again: marking the job held would let a QRLS run it twice.
    c = make_controller()
    job_id, sputnik = running_with_sputnik(c, home)
    box = {"no box": "", "a stranger": client_box(),
           "the sputnik of an earlier run": mbox.create_box("4141.inbox", REMOTE)}[sender]
    c.held(job_id, box)
    assert c.store.state(job_id) == states.RUNNING
    c.held(job_id, sputnik)
    assert c.store.state(job_id) == states.HELD


def test_qhold_failed_when_the_sputnik_refuses(make_controller, home):
    c = make_controller()
    job_id, sputnik = running_with_sputnik(c, home)
    box, _ = ask(c, P.command(P.QHOLD, job_id))
    answer_sputnik_requests(sputnik, P.HOLD_FAILED)
    c.take_messages()
    assert answers_in(box) == [P.failed(P.QHOLD)]
    assert c.store.state(job_id) == states.RUNNING


def test_silent_sputnik_qhold_fails_at_the_deadline_and_is_withdrawn(make_controller, home):
    c = make_controller(sputnik_timeout=7)
    job_id, sputnik = running_with_sputnik(c, home)
    box, _ = ask(c, P.command(P.QHOLD, job_id))
    assert mbox.pending(sputnik), "HOLD was not sent"
    c.fake_clock.advance(6.9)
    c.run_timers()
    assert answers_in(box) == []
    assert ask(c, P.ALIVE)[1] == [P.YES]
    c.fake_clock.advance(0.2)
    c.run_timers()
    assert answers_in(box) == [P.failed(P.QHOLD)]
    assert not mbox.pending(sputnik), "the unread HOLD must be taken back"
    assert c.store.state(job_id) == states.RUNNING
    assert c.holds == {}


def test_two_qholds_share_one_hold(make_controller, home):
    c = make_controller()
    job_id, sputnik = running_with_sputnik(c, home)
    first, _ = ask(c, P.command(P.QHOLD, job_id))
    second, _ = ask(c, P.command(P.QHOLD, job_id))
    seen = recorder(c, events.JOB_ABORT)
    assert answer_sputnik_requests(sputnik, P.OK) == [P.HOLD]
    c.take_messages()
    assert answers_in(first) == answers_in(second) == [P.OK]
    assert len(seen) == 1


def test_hold_waits_for_a_sputnik_that_has_not_written_its_pid(make_controller, home):
    c = make_controller()
    job_id, sputnik = running_with_sputnik(c, home)
    os.unlink(paths.job_file(job_id, "sputnik.pid"))
    box, _ = ask(c, P.command(P.QHOLD, job_id))
    c.fake_clock.advance(0.5)
    c.run_timers()
    assert not mbox.pending(sputnik)
    c.store.write(job_id, "sputnik.pid", 4242)
    c.fake_clock.advance(0.05)
    c.run_timers()
    assert answer_sputnik_requests(sputnik, P.OK) == [P.HOLD]
    c.take_messages()
    assert answers_in(box) == [P.OK]


def test_hold_fails_when_no_sputnik_pid_appears(make_controller, home):
    c = make_controller()
    job_id, _ = running_with_sputnik(c, home)
    os.unlink(paths.job_file(job_id, "sputnik.pid"))
    box, _ = ask(c, P.command(P.QHOLD, job_id))
    for _ in range(150):
        c.fake_clock.advance(0.02)
        c.run_timers()
    assert answers_in(box) == [P.failed(P.QHOLD)]


def test_hold_fails_at_once_when_the_sputnik_box_is_gone(make_controller, home):
    c = make_controller()
    job_id, sputnik = running_with_sputnik(c, home)
    mbox.remove_box(sputnik)
    box, _ = ask(c, P.command(P.QHOLD, job_id))
    c.run_timers()
    assert answers_in(box) == [P.failed(P.QHOLD)]


def test_hold_fails_soon_when_a_local_sputnik_dies(make_controller, home, procs_sleep):
    c = make_controller(sputnik_timeout=30)
    # A PID of ours stands for the sputnik: the wake-up SIGCONT goes to it.
    job_id, sputnik = running_with_sputnik(c, home, host="testhost", pid=procs_sleep.pid)
    box, _ = ask(c, P.command(P.QHOLD, job_id))
    c.fake_clock.advance(1)
    c.run_timers()
    assert answers_in(box) == []
    c.system.dead.add(procs_sleep.pid)
    c.fake_clock.advance(1)
    c.run_timers()
    c.fake_clock.advance(1)
    c.run_timers()
    assert answers_in(box) == [P.failed(P.QHOLD)]


def test_a_hold_answered_just_before_the_sputnik_left_is_taken(make_controller, home):
    """A held job's sputnik answers OK and exits at once: a look for it
    between two messages, before its answer is read, must not fail the hold."""
    c = make_controller(sputnik_timeout=30)
    job_id, sputnik = running_with_sputnik(c, home)
    box, _ = ask(c, P.command(P.QHOLD, job_id))
    assert answer_sputnik_requests(sputnik, P.OK) == [P.HOLD]
    mbox.remove_box(sputnik)
    c.fake_clock.advance(0.6)
    c.run_timers()  # the sputnik is gone, its answer not yet read
    assert answers_in(box) == []
    c.take_messages()
    assert answers_in(box) == [P.OK] and c.store.state(job_id) == states.HELD


@pytest.fixture
def procs_sleep():
    import subprocess

    p = subprocess.Popen(["sleep", "60"])
    yield p
    p.kill()
    p.wait()


def test_qsig_relays_the_sputnik_answer(make_controller, home):
    c = make_controller()
    job_id, sputnik = running_with_sputnik(c, home)
    box, answers = ask(c, P.command(P.QSIG, "USR1", job_id))
    assert answers == []
    assert answer_sputnik_requests(sputnik, P.OK) == [P.signal_request("USR1")]
    c.take_messages()
    assert answers_in(box) == [P.OK]
    box, _ = ask(c, P.command(P.QSIG, "USR1", job_id))
    answer_sputnik_requests(sputnik, P.SIGNAL_FAILED)
    c.take_messages()
    assert answers_in(box) == [P.failed(P.QSIG)]


@pytest.mark.parametrize("args, answer", [
    ("USR1", P.failed(P.QSIG)),
    ("NOSUCHSIG 0", P.failed(P.QSIG)),
    ("USR1 99", P.invalid_id(P.QSIG)),
    ("USR1 0", P.failed(P.QSIG)),  # queued: nothing to signal
])
def test_qsig_refusals(make_controller, home, args, answer):
    c = make_controller()
    submit(c, home)
    assert ask(c, P.command(P.QSIG, args))[1] == [answer]


# -- QRLS, QDEL, QWAIT ----------------------------------------------------------------

def test_qrls_requeues_a_held_job_only(make_controller, home):
    c = make_controller()
    job_id = submit(c, home)
    assert ask(c, P.command(P.QRLS, job_id))[1] == [P.failed(P.QRLS)]
    c.store.transition(job_id, states.HELD)
    c.need_schedule = False
    assert ask(c, P.command(P.QRLS, job_id))[1] == [P.OK]
    assert c.store.state(job_id) == states.QUEUED and c.need_schedule


def test_qdel_refuses_running_and_tells_waiters_of_others(make_controller, home):
    c = make_controller()
    job_id = submit(c, home)
    fifo = os.path.join(str(home), "w.fifo")
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert ask(c, P.command(P.QWAIT, job_id, fifo, "testhost"))[1] == [P.OK]
        c.store.transition(job_id, states.RUNNING)
        assert ask(c, P.command(P.QDEL, job_id))[1] == [P.RUNNING_JOB]
        c.store.transition(job_id, states.HELD)
        seen = recorder(c, events.JOB_DELETED)
        assert ask(c, P.command(P.QDEL, job_id))[1] == [P.OK]
        assert seen == [(events.JOB_DELETED, job_id, {})]
        assert os.read(reader, 100) == ("%s %s\n" % (job_id, P.DELETED)).encode()
        assert not c.store.exists(job_id)
    finally:
        os.close(reader)


def test_qwait_answers_ended_jobs_and_registers_others(make_controller, home):
    c = make_controller()
    job_id = submit(c, home)
    assert ask(c, P.command(P.QWAIT, job_id, "/tmp/f", "h1"))[1] == [P.OK]
    assert ask(c, P.command(P.QWAIT, job_id, "relative", "h1"))[1] == [P.failed(P.QWAIT)]
    assert ask(c, P.command(P.QWAIT, job_id, "/tmp/f"))[1] == [P.failed(P.QWAIT)]
    assert ask(c, P.command(P.QWAIT, "123", "/tmp/f", "h1"))[1] == [P.invalid_id(P.QWAIT)]
    assert ask(c, P.command(P.QUNWAIT, job_id, "/tmp/f", "h1"))[1] == [P.OK]
    c.store.write(job_id, "job.exit", 3)
    c.store.transition(job_id, states.FAILED)
    assert ask(c, P.command(P.QWAIT, job_id, "/tmp/f", "h1"))[1] == [P.ended(3)]


# -- reports from sputniks ----------------------------------------------------------

def test_started_emits_job_start_and_terminated_ends_the_job(make_controller, home):
    c = make_controller()
    job_id = submit(c, home)
    c.store.transition(job_id, states.RUNNING)
    seen = recorder(c, events.JOB_START, events.JOB_TERMINATION)
    assert ask(c, P.started(job_id))[1] == []
    assert ask(c, P.terminated(job_id, 4))[1] == []
    assert c.store.state(job_id) == states.FAILED
    assert seen == [
        (events.JOB_START, job_id, {}),
        (events.JOB_TERMINATION, job_id, {"exit_value": 4, "recovered": False}),
    ]
    # A late or repeated report changes nothing.
    ask(c, P.terminated(job_id, 0))
    ask(c, P.terminated("999", 0))
    assert c.store.state(job_id) == states.FAILED and len(seen) == 2


def test_the_sputnik_that_tells_its_jobs_end_is_free_for_the_next(make_controller, home):
    c = make_controller()
    job_id, box = running_with_sputnik(c, home, host=c.host, pid=4242)
    other, other_box = running_with_sputnik(c, home, host=c.host, pid=4343)
    c.sputniks.update({4242: job_id, 4343: other})
    # A report on a job its sender does not supervise frees nobody.
    c.dispatch(P.message(P.terminated(job_id, 0), other_box))
    assert c.system.retired == [] and c.store.state(job_id) == states.RUNNING
    c.dispatch(P.message(P.terminated(job_id, 0), box))
    assert c.system.retired == [4242] and c.store.state(job_id) == states.FINISHED
    assert c.sputniks == {4343: other}
    # A report the controller ignores (the job is no longer running) still
    # frees its sender, which would otherwise wait for a next job for ever.
    c.store.transition(other, states.FAILED)
    c.dispatch(P.message(P.terminated(other, 0), other_box))
    assert c.system.retired == [4242, 4343] and c.sputniks == {}
    assert c.store.state(other) == states.FAILED


@pytest.mark.parametrize("value, state, answer", [
    (143, states.HELD, P.OK),  # the hold's SIGTERM ended it
    (0, states.FINISHED, P.failed(P.QHOLD)),  # it ended by itself: never run again
])
def test_a_sputnik_lost_while_holding_leaves_the_job_held(make_controller, home, value, state, answer):
    """Found by the crash review of c9ab04b: the sputnik was killed after
    it had signalled the job for the hold; the job's end, accounted by the
    controller, failed the job (143), and gqhold said the hold failed."""
    c = make_controller(sputnik_timeout=30)
    job_id, sputnik = running_with_sputnik(c, home)
    box, _ = ask(c, P.command(P.QHOLD, job_id))
    assert job_id in c.holds
    c.job_ended(job_id, value, recovered=True)  # what supervisor_lost finds
    assert c.store.state(job_id) == state
    c.fake_clock.advance(31)  # its answer never comes: the HOLD is withdrawn unread
    c.run_timers()
    assert answers_in(box) == [answer]


@pytest.mark.parametrize("new_run, answer_timeout", [(False, 200), (True, 200), (False, 60)])
def test_a_hold_goes_to_the_sputnik_that_adopted_the_job(make_controller, home, new_run, answer_timeout):
    """Found by the crash review of c9ab04b: the sputnik asked to hold was
    killed, the job (still running) was adopted by a new one, and the hold
    failed; the job ran on, failed, and gqhold said it had not held it.
    A new run (released, started again) is never the one held; nor is the
    job when its clients would have stopped waiting before the new ask's
    answer (found by the next review: told nothing of a hold carried out)."""
    c = make_controller(sputnik_timeout=30, answer_timeout=answer_timeout)
    job_id, first = running_with_sputnik(c, home)
    c.store.write(job_id, "job.start", "1700000000\n")
    box, _ = ask(c, P.command(P.QHOLD, job_id))
    c.store.write(job_id, "sputnik.pid", 4343)  # the adopter
    adopter = mbox.create_box("4343.inbox", REMOTE)
    if new_run:
        c.store.write(job_id, "job.start", "1700000000\n1700000100\n")
    c.fake_clock.advance(31)  # the HOLD to the first is withdrawn unread
    c.run_timers()
    if new_run or answer_timeout < 31 + 30 + 30:
        assert answers_in(box) == [P.failed(P.QHOLD)] and requests_in(adopter) == []
        return
    assert answers_in(box) == []
    assert answer_sputnik_requests(adopter, P.OK) == [P.HOLD]
    c.take_messages()
    assert answers_in(box) == [P.OK] and c.store.state(job_id) == states.HELD

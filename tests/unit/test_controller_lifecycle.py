"""A job's life in the controller: scheduling, start, end, restart and
recovery, with a fake OS seam (no sputnik is started) and a fake clock."""

import os
import signal
import subprocess
import sys
import time

import pytest

from gsatellite import events, paths, pidref, states
from gsatellite.controller import subscribers
from gsatellite.controller.liveness import AlreadyRunning, acquire_lock, check_stale
from gsatellite.controller.system import System

from .test_controller_handlers import recorder, submit


def launched(c):
    return [call[2] for call in c.system.calls if call[0] == "launch_sputnik"]


def test_schedule_starts_the_lowest_queued_job_in_one_slot(make_controller, home):
    c = make_controller(slots=1)
    a, b = submit(c, home, "a.job"), submit(c, home, "b.job")
    c.tick()
    assert launched(c) == [a]
    assert c.store.state(a) == states.RUNNING and c.store.state(b) == states.QUEUED
    assert c.store.read(a, "job.execHost") == "testhost"
    assert c.system.calls[-1][1] == c.store.job_path(a)
    c.tick()
    assert launched(c) == [a]  # nothing new to schedule, slot busy


def test_a_spare_sputnik_is_wanted_only_while_startable_jobs_wait(make_controller, home):
    c = make_controller(slots=1)
    a = submit(c, home, "a.job")
    c.tick()
    assert launched(c) == [a] and c.system.spare_wanted is False  # nothing waits
    b = submit(c, home, "b.job")
    c.tick()
    assert c.system.spare_wanted is True  # b waits for the slot
    c.store.transition(b, states.HELD)
    c.need_schedule = True
    c.tick()
    assert c.system.spare_wanted is False  # a held job is not about to start


def test_a_job_started_again_starts_without_the_files_of_its_last_run(make_controller, home):
    """What an earlier run left (held or restarted) must not be taken for
    this run's by a recovery; other files of the job stay."""
    c = make_controller(slots=1)
    a = submit(c, home, "a.job")
    stale = sorted(name + suffix for name in ("job.reason", "sputnik.pid", "job.exit", "job.pid")
                   for suffix in ("", pidref.SIDECAR))
    for name in stale + ["job.start", "job.stop"]:
        with open(paths.job_file(a, name), "w") as f:
            f.write("1\n")
    c.system.dead.add(1)  # job.pid names no process of an earlier run
    c.tick()
    assert launched(c) == [a]
    left = set(os.listdir(paths.job_dir(a)))
    assert not left & set(stale)
    assert {"job.start", "job.stop"} <= left


def _stray_queued_link(c, job_id):
    os.symlink(paths.job_dir(job_id), paths.state_link(states.QUEUED, job_id))
    _listed_again(c)


def _listed_again(c):
    """What another writer did in queued/ is seen once the store lists the
    directory again: at the next pass where its time shows the change, at
    the first pass a second after the last listing where it does not (a
    file system with coarse time stamps).  At once here, on any file
    system."""
    c.store.forget_queued()


@pytest.mark.parametrize("state", [states.FINISHED, states.HELD])
def test_a_job_listed_as_queued_that_job_state_says_is_not_is_not_started(make_controller, home, capsys, state):
    """Found by a review: a link left in queued/ by another writer (a
    controller taken for lost that went on for a moment, a hand edit) made
    a finished job run again: job.state decides, the links are repaired,
    and the slot goes to the next job in the same pass."""
    c = make_controller(slots=1)
    a = submit(c, home, "a.job")
    c.store.transition(a, state)
    _stray_queued_link(c, a)
    b = submit(c, home, "b.job")
    c.tick()
    assert launched(c) == [b]
    assert c.store.linked_states(a) == [state] and c.store.state(a) == state
    assert "job %s: in queued/ but its job.state says %s" % (a, state) in capsys.readouterr().out


def test_a_stray_queued_link_never_judges_a_job_by_its_conditions(make_controller, home):
    """Found by the second review: the conditions of a job in queued/ were
    checked before its job.state, and a finished job whose dependency can
    no longer be met was failed (JOB_ABORT, its job.reason overwritten)."""
    c = make_controller(slots=1)
    f = submit(c, home, "f.job")
    c.store.transition(f, states.FINISHED)
    c.store.write(f, "job.depend", "afterok:99999")  # a job that no longer exists
    c.unconditional.discard(f)
    _stray_queued_link(c, f)
    seen = recorder(c, events.JOB_ABORT)
    c.tick()
    assert (c.store.state(f), c.store.linked_states(f), seen) == (states.FINISHED, [states.FINISHED], [])
    assert c.store.read(f, "job.reason", "") == ""


def test_a_damaged_job_state_with_two_links_is_queued_and_started_at_once(make_controller, home):
    """Found by the second review: a job.state the repair sets to queued
    (it held no state word, and one of its links is queued) waited for the
    next submission."""
    c = make_controller(slots=1)
    b = submit(c, home, "b.job")
    with open(paths.job_file(b, "job.state"), "w") as f:
        f.write("bogus\n")
    os.symlink(paths.job_dir(b), paths.state_link(states.FINISHED, b))
    c.tick()
    assert launched(c) == [b] and c.store.state(b) == states.RUNNING


def test_a_stray_job_whose_repair_fails_is_put_aside_and_the_slot_goes_on(make_controller, home, monkeypatch):
    """Found by the second review: when the links could not be repaired
    (a state directory we may not write), the next job waited for the
    next submission; the failed write puts the job aside (damaged), and the
    pass is made again without it."""
    import errno

    from gsatellite import jobstore

    c = make_controller(slots=1)
    h = submit(c, home, "h.job")
    c.store.transition(h, states.HELD)
    os.unlink(paths.state_link(states.HELD, h))
    _stray_queued_link(c, h)
    b = submit(c, home, "b.job")
    real = jobstore.symlink_atomic

    def symlink_atomic(target, path):
        if path == paths.state_link(states.HELD, h):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real(target, path)

    monkeypatch.setattr(jobstore, "symlink_atomic", symlink_atomic)
    c.tick()
    assert launched(c) == [b]
    assert h in c.store.damaged and c.store.read(h, "job.state") == states.HELD


def test_an_ended_job_with_a_damaged_state_and_a_stray_queued_link_is_not_run_again(make_controller, home):
    """Found by the third review: the repair took the first link in state
    order, queued, and the finished job ran again.  With an exit value on
    record, an ended state wins."""
    c = make_controller(slots=1)
    a = submit(c, home, "a.job")
    c.store.transition(a, states.FINISHED)
    c.store.write(a, "job.exit", 0)
    with open(paths.job_file(a, "job.state"), "w") as f:
        f.write("finishd\n")
    _stray_queued_link(c, a)
    c.tick()
    assert launched(c) == [] and c.store.state(a) == states.FINISHED
    assert c.store.linked_states(a) == [states.FINISHED]


def test_an_entry_in_queued_that_cannot_be_removed_does_not_stop_the_queue(make_controller, home):
    """Found by the third review: a job taken for startable whose queued/
    entry could not be removed (a directory there) was picked at every
    pass and took the only slot: the queue stood still until a restart."""
    c = make_controller(slots=1)
    a = submit(c, home, "a.job")
    c.tick()
    assert launched(c) == [a]
    c.job_ended(a, 0)
    os.mkdir(paths.state_link(states.QUEUED, a))  # unlink() cannot remove it
    _listed_again(c)
    c.unconditional.add(a)  # taken for startable, as when it was queued
    b = submit(c, home, "b.job")
    c.tick()
    assert launched(c) == [a, b]
    assert c.store.state(a) == states.FINISHED


def test_an_entry_in_queued_that_cannot_be_removed_is_logged_once_an_hour(make_controller, home, capsys):
    """It is met at every pass: a line each time filled the log."""
    c = make_controller(slots=1)
    a = submit(c, home, "a.job")
    c.tick()
    c.job_ended(a, 0)
    os.mkdir(paths.state_link(states.QUEUED, a))
    _listed_again(c)
    line = "job %s: in queued/ but its job.state says finished" % a
    capsys.readouterr()
    for _ in range(3):
        c.unconditional.add(a)
        c.need_schedule = True
        c.tick()
    assert capsys.readouterr().out.count(line) == 1
    c.fake_clock.advance(3601)
    c.unconditional.add(a)
    c.need_schedule = True
    c.tick()
    assert capsys.readouterr().out.count(line) == 1
    # Once the entry is gone the job is forgotten: a new stray is told.
    os.rmdir(paths.state_link(states.QUEUED, a))
    _listed_again(c)
    c.need_schedule = True
    c.tick()
    assert a not in (c.stray_told or {})
    _stray_queued_link(c, a)
    c.need_schedule = True
    c.tick()
    assert capsys.readouterr().out.count(line) == 1
    assert c.store.linked_states(a) == [states.FINISHED]


def test_a_queued_job_removed_by_hand_behind_the_kept_listing_is_simply_gone(make_controller, home, capsys):
    """Found by the review of 92d5403: a queued job whose link and
    directory were removed by hand within the time stamp's tick (so the
    kept listing still names it) was logged as a stray that could not be
    repaired.  It is gone: the next job starts, nothing is said of it."""
    import shutil

    c = make_controller(slots=1)
    a = submit(c, home, "a.job")
    c.tick()
    b, d = submit(c, home, "b.job"), submit(c, home, "d.job")
    c.need_schedule = True
    c.tick()
    queued = paths.state_dir(states.QUEUED)
    seen = os.stat(queued)
    os.unlink(paths.state_link(states.QUEUED, b))
    shutil.rmtree(paths.job_dir(b))
    os.utime(queued, ns=(seen.st_atime_ns, seen.st_mtime_ns))  # a coarse clock's tick
    capsys.readouterr()
    c.job_ended(a, 0)
    c.tick()
    assert launched(c) == [a, d]
    assert "job %s:" % b not in capsys.readouterr().out
    assert b not in c.store.damaged and b not in c.store.queued_ids()


def test_a_second_repair_of_a_job_that_stayed_queued_is_logged(make_controller, home, capsys):
    """Found by the review: a repair that leaves the job queued must not
    silence the same line for the next stray within the hour."""
    def corrupt(job_id):
        with open(paths.job_file(job_id, "job.state"), "w") as f:
            f.write("\n")
        os.symlink(paths.job_dir(job_id), paths.state_link(states.FINISHED, job_id))

    c = make_controller(slots=1)
    a = submit(c, home, "a.job")
    c.tick()  # a takes the slot
    b = submit(c, home, "b.job")
    corrupt(b)
    c.unconditional.discard(b)
    c.need_schedule = True
    c.tick()  # b repaired to queued, and stays queued
    corrupt(b)
    c.fake_clock.advance(60)
    c.job_ended(a, 0)
    c.tick()  # b repaired again, then started
    assert c.store.state(b) == states.RUNNING
    assert capsys.readouterr().out.count("job %s: in queued/ but its job.state says None" % b) == 2


def test_a_job_that_waits_on_costs_no_look_at_its_state(make_controller, home):
    """The third review measured the check before every waiting job's
    conditions at 10 % of a pass over 3000 deferred jobs: a job whose
    verdict and reason stay as they were is not looked at."""
    c = make_controller(slots=1)
    a = submit(c, home, "a.job")
    c.store.write(a, "job.startAfter", int(time.time()) + 3600)
    c.unconditional.discard(a)
    c.tick()  # writes its reason: the check is made
    looked = []
    real = c.store.state
    c.store.state = lambda job_id: looked.append(job_id) or real(job_id)
    c.need_schedule = True
    c.tick()
    assert launched(c) == [] and looked == []


def test_start_failures_fail_the_job(make_controller, home):
    c = make_controller(scheduler="nobatch")
    a, b = submit(c, home, "a.job"), submit(c, home, "b.job")
    os.unlink(c.store.job_path(a))
    c.system.launch_error = OSError("no fork today")
    c.tick()
    assert (c.store.state(a), c.store.read(a, "job.exit")) == (states.FAILED, "127")
    assert (c.store.state(b), c.store.read(b, "job.exit")) == (states.FAILED, "126")


def test_job_end_emits_termination_and_schedules(make_controller, home):
    c = make_controller()
    a = submit(c, home)
    c.tick()
    seen = recorder(c, events.JOB_STATE, events.JOB_TERMINATION)
    c.need_schedule = False
    c.job_ended(a, 0)
    assert c.store.state(a) == states.FINISHED and c.need_schedule
    assert seen == [
        (events.JOB_STATE, a, {"old": states.RUNNING, "new": states.FINISHED}),
        (events.JOB_TERMINATION, a, {"exit_value": 0, "recovered": False}),
    ]


def test_restart_requeues_up_to_max_restarts(make_controller, home):
    c = make_controller(max_restarts=1)
    a = submit(c, home, body="#GSAT -T gtransfer\nexit 75\n")
    b = submit(c, home, "b.job")
    c.tick()
    seen = recorder(c, events.JOB_TERMINATION)
    c.job_ended(a, 75)
    # The job queued behind got the slot while the restarted one was held.
    assert launched(c) == [a, b]
    assert c.store.state(a) == states.QUEUED and c.store.read(a, "job.restarts") == "1"
    assert seen == [(events.JOB_TERMINATION, a, {"exit_value": 75, "restart": True, "recovered": False})]
    c.store.transition(a, states.RUNNING)
    c.job_ended(a, 75)
    assert c.store.state(a) == states.FAILED
    assert seen[-1] == (events.JOB_TERMINATION, a, {"exit_value": 75, "recovered": False})


def test_a_dependency_that_can_never_be_met_aborts_the_job(make_controller, home):
    c = make_controller()
    a = submit(c, home)
    c.store.write(a, "job.exit", 1)
    c.store.transition(a, states.FAILED)
    b = submit(c, home, "b.job", "#GSAT -W depend=afterok:%s\nexit 0\n" % a)
    seen = recorder(c, events.JOB_ABORT)
    c.tick()
    assert c.store.state(b) == states.FAILED
    assert seen == [(events.JOB_ABORT, b, {"reason": c.store.read(b, "job.reason")})]
    assert launched(c) == []


def test_a_deferred_job_starts_when_the_wall_clock_says_so(make_controller, home):
    c = make_controller()
    later = int(c.fake_now()) + 60
    a = submit(c, home, body="#GSAT -a @%d\nexit 0\n" % later)
    assert c.tick() <= c.poll
    assert c.next_timer == later and launched(c) == []
    c.fake_now.advance(30)
    c.tick()
    assert launched(c) == []
    c.fake_now.advance(31)
    c.tick()
    assert launched(c) == [a]


# -- recovery -----------------------------------------------------------------------------

def running(c, home, name, **files):
    job_id = submit(c, home, name)
    c.store.transition(job_id, states.RUNNING)
    c.store.write(job_id, "job.execHost", files.pop("host", "testhost"))
    for attr, value in files.items():
        c.store.write(job_id, attr.replace("_", "."), value)
    return job_id


def test_recover_accounts_for_every_running_job(make_controller, home):
    c = make_controller()
    never = running(c, home, "never.job")
    ended = running(c, home, "ended.job", sputnik_pid=11, job_start="1", job_stop="2", job_exit="5")
    lost = running(c, home, "lost.job", sputnik_pid=12, job_start="1", job_stdout="it ran\n")
    alive = running(c, home, "alive.job", sputnik_pid=13)
    elsewhere = running(c, home, "elsewhere.job", sputnik_pid=14, host="node2")
    c.system.dead.update({11, 12})
    seen = recorder(c, events.JOB_TERMINATION)
    c.recover()
    assert c.store.state(never) == states.QUEUED
    assert c.store.state(ended) == states.FAILED
    assert seen == [(events.JOB_TERMINATION, ended, {"exit_value": 5, "recovered": True})]
    assert c.store.state(lost) == states.FAILED
    assert c.store.read(lost, "job.reason") == "supervisor lost, no exit value recorded"
    assert c.store.state(alive) == states.RUNNING
    assert c.store.state(elsewhere) == states.RUNNING
    assert 14 not in [call[1] for call in c.system.calls if call[0] == "alive"]


def test_a_job_whose_sputnik_died_before_starting_it_is_queued_again_with_one_start(make_controller, home):
    """Regression (fault injection): the sputnik was killed after it
    recorded the start (it does so first) but before it started the job,
    or while it was starting it; the job failed "supervisor lost" (and in
    the second case ran all the same).  Without a process of the job or
    output of the run it is queued again, and the start of the run that
    never began is taken back; a half-started job is adopted."""
    c = make_controller()
    a = running(c, home, "a.job", sputnik_pid=12, job_start="1")
    half = running(c, home, "half.job", sputnik_pid=13, job_start="1")
    c.system.dead.update({12, 13})
    c.system.half_started = lambda job_id: pidref.ProcessRef(4343, 77) if job_id == half else None
    c.recover()
    assert c.store.state(a) == states.QUEUED
    assert c.store.read(a, "job.start", "").split() == []
    # The sputnik was killed while starting the job: the new process, still
    # bearing its name, is the job; it is adopted, never queued again.
    assert c.store.state(half) == states.RUNNING
    assert c.store.read(half, "job.pid").strip() == "4343"
    assert c.store.read(half, "job.pid.start").split()[:2] == ["4343", "77"]
    assert ("adopt_sputnik", c.store.job_path(half), half) in c.system.calls
    assert c.store.read(half, "job.start").split() == ["1"]


def test_a_lost_jobs_unreaped_exit_status_is_read_not_adopted_again_and_again(make_controller, home):
    """Regression (fault injection): the sputnik and then the controller
    were killed; the job ended as a zombie nobody reaps.  Each new sputnik
    found it "ended" and left without a value, each controller adopted it
    again, until it failed with "supervisor lost again and again"."""
    c = make_controller()
    a = running(c, home, "zombie.job", sputnik_pid=12, job_pid=4242, job_start="1")
    c.system.dead.add(12)
    c.system.ended[4242] = 3 << 8  # exit(3), as waitpid reports it
    seen = recorder(c, events.JOB_TERMINATION)
    c.recover()
    assert c.store.state(a) == states.FAILED
    assert c.store.read(a, "job.exit").strip() == "3"
    assert seen == [(events.JOB_TERMINATION, a, {"exit_value": 3, "recovered": True})]
    assert "adopt_sputnik" not in c.system.names()


def test_a_lost_job_whose_shell_ended_is_not_adopted_for_what_it_left_running(make_controller, home):
    """The sputnik and the controller were killed, the job's shell ended and
    was reaped by another (init), and a process it started in the
    background runs on in its group.  The job ended with its shell, as under
    a live sputnik; it fails at once (no exit value is left to read), not
    after three adopters that each find nothing to watch."""
    c = make_controller()
    a = running(c, home, "bg.job", sputnik_pid=12, job_pid=4242, job_start="1")
    c.system.dead.update({12, 4242})
    c.system.groups.add(4242)
    c.recover()
    assert c.store.state(a) == states.FAILED
    assert c.store.read(a, "job.reason") == "supervisor lost, no exit value recorded"
    assert "adopt_sputnik" not in c.system.names()


def test_a_lost_jobs_shell_that_ends_during_the_looks_keeps_its_exit_value(make_controller, home):
    """Found by review: the job's shell ended between the look at /proc for
    an unreaped status and the look for a live leader.  Its zombie still
    held the exit value; the job was failed without it, and the controller
    (the subreaper) reaped the zombie after that."""
    c = make_controller()
    a = running(c, home, "z.job", sputnik_pid=12, job_start="1")
    c.system.dead.add(12)
    shell = subprocess.Popen(["sh", "-c", "exec sleep 300"], start_new_session=True)
    try:
        pidref.write_pid_file(paths.job_file(a, "job.pid"), shell.pid, pidref.start_time(shell.pid))
        real = System.__new__(System)
        looks = []

        def ended_status(path):
            status = real.ended_status(path)
            if not looks:  # the shell ends right after the first look
                # SIGKILL: the controller's sleeper blocked SIGTERM in this
                # process, and the shell inherited the mask.
                os.kill(shell.pid, signal.SIGKILL)
                while (pidref.stat_fields(shell.pid) or [b"Z"])[0] != b"Z":
                    time.sleep(0.01)
            looks.append(status)
            return status

        c.system.ended_status = ended_status
        c.system.process = real.process
        c.supervisor_lost(a)
        assert c.store.state(a) == states.FAILED
        assert c.store.read(a, "job.exit").strip() == str(128 + signal.SIGKILL)
        assert looks[0] is None and len(looks) == 2
    finally:
        shell.kill()
        shell.wait()


def test_recover_tells_waiters_of_ended_jobs_again(make_controller, home):
    c = make_controller()
    a = submit(c, home)
    c.store.write(a, "job.exit", 0)
    c.store.transition(a, states.FINISHED)
    fifo = os.path.join(str(home), "w.fifo")
    os.mkfifo(fifo)
    with open(paths.job_file(a, "job.waiters"), "w") as f:
        f.write("testhost %s\n" % fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        c.recover()
        assert os.read(reader, 100) == ("%s 0\n" % a).encode()
    finally:
        os.close(reader)


def test_services_do_not_run_for_an_end_found_at_recovery(make_controller, home):
    make_controller()
    marker = os.path.join(str(home), "ran")
    d = paths.user_services_dir(events.JOB_TERMINATION)
    os.makedirs(d)
    with open(os.path.join(d, "svc"), "w") as f:
        f.write("#!/bin/sh\ntouch %s\n" % marker)
    os.chmod(os.path.join(d, "svc"), 0o700)
    assert events.job_services(events.JOB_TERMINATION, "00000", exit_value=0, recovered=True) == []
    started = events.job_services(events.JOB_TERMINATION, "00000", exit_value=0)
    # The system directory holds the shipped mail service (the classic
    # default); the user's directory is the one under test.
    ours = [p for p in started if p.args[3] == d]
    assert len(ours) == 1
    for p in started:
        assert p.wait(30) == 0
    assert ours[0].args[1:] == [events.JOB_TERMINATION, paths.job_file("00000", "job.env"), d, "0"]
    # run-services starts each service in the background.
    deadline = time.monotonic() + 30
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.exists(marker)


# -- per-job mail -------------------------------------------------------------------------

def test_notice_kind_follows_the_mail_points():
    kind = subscribers.notice_kind
    T, S, A = events.JOB_TERMINATION, events.JOB_START, events.JOB_ABORT
    assert kind(S, "b") == S and kind(S, "e") is None
    assert kind(T, "e", 0) == T and kind(T, "e", 3) == T
    assert kind(T, "a", 3) == A and kind(T, "ae", 3) == A and kind(T, "a", 0) is None
    assert kind(T, "abe", 75, restart=True) is None
    assert kind(A, "a") == A and kind(A, "be") is None
    assert kind(S, "n") is None and kind(S, "") is None


def test_mail_is_sent_from_a_detached_child(make_controller, home):
    c = make_controller()
    a = submit(c, home, body="#GSAT -m be\nexit 0\n")
    c.tick()
    c.started(a, "")
    c.job_ended(a, 0)
    assert c.system.names().count("spawn") == 2
    b = submit(c, home, "b.job")
    c.tick()
    c.started(b, "")
    c.job_ended(b, 1)
    assert c.system.names().count("spawn") == 2


# -- liveness ---------------------------------------------------------------------------------

def test_liveness_timer_refreshes_and_stops_when_another_controller_took_over(make_controller, home):
    c = make_controller(liveness_interval=2)
    c.publish()
    os.utime(paths.gsatlc_pid_file(), (1, 1))
    c.fake_clock.advance(2)
    c.run_timers()
    assert os.stat(paths.gsatlc_pid_file()).st_mtime > 1
    with open(paths.gsatlc_pid_file(), "w") as f:
        f.write("1\n")
    c.fake_clock.advance(2)
    c.run_timers()
    assert c.stop and not c.owner
    c.shutdown()
    assert os.path.exists(paths.gsatlc_pid_file())  # not ours to remove


def test_check_stale_refuses_a_live_controller_and_clears_a_dead_one(home):
    os.makedirs(paths.base(), exist_ok=True)
    with open(paths.gsatlc_host_file(), "w") as f:
        f.write("testhost\n")
    with open(paths.gsatlc_pid_file(), "w") as f:
        f.write("12345\n")
    with pytest.raises(AlreadyRunning):
        check_stale("testhost", lambda pid: True)
    check_stale("testhost", lambda pid: False)
    assert not os.path.exists(paths.gsatlc_pid_file())


def test_stage_out_at_the_final_end_only_and_by_the_controller_if_need_be(make_controller, home):
    """A sputnik lost before its stage-out: the controller does it at the
    final end (not at a restart), and emits STAGE_OUT_FAILED before the
    final JOB_TERMINATION for what it could not copy."""
    from gsatellite import staging

    c = make_controller(max_restarts=1)
    a = submit(c, home, body="#GSAT -T gtransfer\nexit 75\n")
    dest = home / "dest"
    dest.mkdir()
    with open(paths.job_file(a, staging.REQUESTS), "w") as f:
        f.write(staging.encode_requests([("r", str(dest / "r")), ("gone", str(dest / "gone"))]) + "\n")
    with open(os.path.join(paths.job_tmp_dir(a), "r"), "w") as f:
        f.write("result\n")
    c.tick()
    seen = recorder(c, events.STAGE_OUT_FAILED, events.JOB_TERMINATION)
    c.job_ended(a, 75)
    assert os.listdir(dest) == [] and seen[-1][2].get("restart")
    c.store.transition(a, states.RUNNING)
    c.job_ended(a, 75, recovered=True)
    assert (dest / "r").read_text() == "result\n"
    line = staging.failure_line("gone", str(dest / "gone"), "missing", paths.job_tmp_dir(a))
    assert [(e, info.get("failures")) for e, _, info in seen[1:]] == [
        (events.STAGE_OUT_FAILED, [line]), (events.JOB_TERMINATION, None)]
    assert c.store.state(a) == states.FAILED


def test_the_lock_keeps_out_a_second_controller_also_in_another_process(home):
    os.makedirs(paths.base(), exist_ok=True)
    lock = acquire_lock()
    with pytest.raises(AlreadyRunning):
        acquire_lock()  # another descriptor: flock locks are per open file
    # Another process (a gsatlc started meanwhile) is kept out as well.
    code = "import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\n" \
           "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)\n"
    assert subprocess.run([sys.executable, "-c", code, paths.gsatlc_lock_file()]).returncode == 3
    lock.release()
    assert subprocess.run([sys.executable, "-c", code, paths.gsatlc_lock_file()]).returncode == 0
    acquire_lock().release()


def _live_timers(c):
    return [t for t in c.timers if t[2] is not None]


def test_an_idle_controller_wakes_for_its_liveness_timer_alone(make_controller, home):
    """Issue 18 (idle CPU): the look at sputniks a previous controller
    started runs only while there are any; it woke an idle controller
    twice a second."""
    c = make_controller()
    c.recover()
    assert len(_live_timers(c)) == 1  # keep_alive
    alive = running(c, home, "alive.job", sputnik_pid=13)
    c.recover()  # as a new controller would find it
    assert len(_live_timers(c)) == 2
    c.system.dead.add(13)
    c.fake_clock.advance(0.5)
    c.run_timers()
    assert alive in c.lost
    assert len(_live_timers(c)) == 1


def test_the_start_write_test_is_named_for_this_start_only(tmp_path):
    """Two controllers starting at once on two hosts sharing $HOME may have
    one PID: named by the PID alone, one removed the other's probe and that
    start failed ("cannot write ~/.gsatellite").  Each start's probe name
    is its own."""
    from gsatellite.controller import loop

    names = {loop.probe_path(str(tmp_path)) for _ in range(100)}
    assert len(names) == 100
    assert all(os.path.dirname(n) == str(tmp_path) and os.path.basename(n).startswith(".") for n in names)


def test_write_tests_left_by_killed_starts_are_cleared(tmp_path):
    """A start killed with kill -9 in its write test left the probe (or its
    temporary file) in ~/.gsatellite for ever; one an hour old is removed,
    a young one (another host's start, now) and other files stay."""
    from gsatellite.controller import loop

    now = time.time()
    old_probe = tmp_path / ".write-test.123.abcdefgh"
    old_temp = tmp_path / "..write-test.123.abcdefgh.ABCDEFGH"
    young = tmp_path / ".write-test.456.ijklmnop"
    other = tmp_path / ".write-testimony"
    for p in (old_probe, old_temp, young, other):
        p.write_text("")
    for p in (old_probe, old_temp, other):
        os.utime(p, (now - loop.PROBE_LEFT - 10, now - loop.PROBE_LEFT - 10))
    # An old link under a probe's name is judged by its own age and
    # removed, never what it points at (a young file outside).
    outside = tmp_path.parent / ("outside-" + tmp_path.name)
    outside.write_text("keep\n")
    link = tmp_path / ".write-test.789.qrstuvwx"
    os.symlink(str(outside), str(link))
    os.utime(link, (now - loop.PROBE_LEFT - 10, now - loop.PROBE_LEFT - 10), follow_symlinks=False)
    loop.clear_probes(str(tmp_path), now)
    assert sorted(os.listdir(tmp_path)) == [".write-test.456.ijklmnop", ".write-testimony"]
    assert outside.read_text() == "keep\n"


def test_clearing_write_tests_never_fails_a_start(tmp_path, monkeypatch):
    """Found by the second review: a ~/.gsatellite we may write but not
    list (mode 0300, or an NFS error) made the start exit 79."""
    import errno

    from gsatellite.controller import loop

    def unlistable(path):
        raise PermissionError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(loop.os, "listdir", unlistable)
    assert loop.clear_probes(str(tmp_path), time.time()) is None


# -- a restart cut short (found by the review of c9ab04b) ---------------------------

class Killed(BaseException):
    """A controller killed at this line (kill -9): nothing after it runs."""


def _kill_at(monkeypatch, obj, name, when=lambda *a, **k: True):
    real = getattr(obj, name)

    def dying(*args, **kwargs):
        if when(*args, **kwargs):
            raise Killed(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(obj, name, dying)


def _restarting_job(make_controller, home):
    c = make_controller(max_restarts=3)
    a = submit(c, home, body="#GSAT -T gtransfer\nexit 75\n")
    c.tick()
    c.store.write(a, "job.start", "1700000000\n")  # as its sputnik records the run
    return c, a


def test_a_restart_cut_short_after_the_held_link_is_finished_at_the_next_start(
        make_controller, home, monkeypatch):
    """The job was held (its restart under way) when the controller died:
    the next one took it for a user's hold, and it stayed held for good."""
    c, a = _restarting_job(make_controller, home)
    _kill_at(monkeypatch, c, "schedule")  # between the held and the queued link
    with pytest.raises(Killed):
        c.job_ended(a, 75)
    assert c.store.state(a) == states.HELD
    c2 = make_controller(max_restarts=3)
    c2.recover()
    assert c2.store.state(a) == states.QUEUED
    assert c2.store.read(a, "job.restarts") == "1"
    assert not os.path.exists(paths.job_file(a, "job.restarting"))


def test_an_end_counted_by_a_controller_killed_before_the_held_link_is_not_counted_again(
        make_controller, home, monkeypatch):
    """Counted once by the controller that died, once more by the next
    one when it found the run's end on record: a restart fewer."""
    c, a = _restarting_job(make_controller, home)
    _kill_at(monkeypatch, c.store, "transition", lambda job_id, new, *x, **k: new == states.HELD)
    with pytest.raises(Killed):
        c.job_ended(a, 75)
    assert (c.store.state(a), c.store.read(a, "job.restarts")) == (states.RUNNING, "1")
    c2 = make_controller(max_restarts=3)
    c2.job_ended(a, 75, recovered=True)  # what supervisor_lost does with the end on record
    assert (c2.store.state(a), c2.store.read(a, "job.restarts")) == (states.QUEUED, "1")


def test_a_users_hold_after_a_finished_restart_stays(make_controller, home, monkeypatch):
    c, a = _restarting_job(make_controller, home)
    unlink = os.unlink
    _kill_at(monkeypatch, os, "unlink", lambda path, *x, **k: str(path).endswith("job.restarting"))
    with pytest.raises(Killed):
        c.job_ended(a, 75)  # killed once queued, before the record went
    monkeypatch.setattr(os, "unlink", unlink)
    assert os.path.exists(paths.job_file(a, "job.restarting"))
    assert c.store.state(a) == states.QUEUED
    c2 = make_controller(max_restarts=3)
    c2.recover()
    c2.store.transition(a, states.HELD)  # gqhold
    c3 = make_controller(max_restarts=3)
    c3.recover()
    assert c3.store.state(a) == states.HELD


def test_a_sputnik_named_for_the_job_but_not_yet_recorded_is_watched_not_doubled(make_controller, home):
    """Found by the crash review of c9ab04b: a spare handed the job by a
    controller that died before the spare recorded itself went on to start
    it, while the next controller, finding no sputnik, queued it again: it
    ran twice.  A process bearing the job's sputnik name is now watched as
    its sputnik; once it is gone without a start, the job is queued again."""
    c = make_controller()
    a = running(c, home, "a.job")
    alive = {"sputnik": True}
    c.system.half_started = lambda job_id: pidref.ProcessRef(4343, 77) if job_id == a and alive["sputnik"] else None
    c.recover()
    assert c.store.state(a) == states.RUNNING and a in c.watched
    assert "launch_sputnik" not in c.system.names()
    alive["sputnik"] = False
    c.watched[a] = pidref.ProcessRef(4343, 77)
    c.system.dead.add(4343)
    c.fake_clock.advance(1)
    c.run_timers()
    c.account_lost()
    assert c.store.state(a) == states.QUEUED


def test_the_controller_sweeps_boxes_of_dead_processes_once_a_minute(make_controller, home):
    from gsatellite.controller import loop
    from gsatellite.transport import mbox

    c = make_controller()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os._exit(0)
    os.waitpid(child, 0)
    box = mbox.create_box("%d.inbox" % child)
    start = c.clock()
    while c.clock() < start + loop.BOX_SWEEP_SECONDS - c.poll:
        c.fake_clock.advance(c.poll)
        c.run_timers()
    assert os.path.isdir(box)
    assert len(_live_timers(c)) == 1  # no timer of its own: it rides on keep_alive
    if pidref.start_time(child) is not None:
        pytest.skip("another process took PID %d meanwhile" % child)
    c.fake_clock.advance(c.poll)
    c.run_timers()
    assert not os.path.lexists(box)


def test_a_job_back_in_the_queue_has_its_conditions_read_again(make_controller, home):
    """A job leaves the set of jobs known free of start conditions with the
    queue (the pass no longer prunes that set each time): a start time
    written while it was held is obeyed once it is released."""
    c = make_controller(slots=1)
    busy = submit(c, home, "busy.job")
    c.tick()
    a = submit(c, home, "a.job")
    c.tick()
    assert launched(c) == [busy] and a in c.unconditional
    c.store.transition(a, states.HELD)
    c.store.write(a, "job.startAfter", int(time.time()) + 3600)  # by hand, or a classic tool
    c.store.transition(a, states.QUEUED)
    c.job_ended(busy, 0)
    c.tick()
    assert launched(c) == [busy] and c.store.state(a) == states.QUEUED
    assert c.store.read(a, "job.reason", "")

"""The sputnik's verbs and its reports to the controller, in process.

A real process group (``sleep`` in a session of its own) stands for the job
where a signal must reach something; the controller is a box the test reads.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from gsatellite import paths, pidref
from gsatellite import protocol as P
from gsatellite.fsutil import write_atomic
from gsatellite.transport import mbox
from gsatellite.sputnik import Sputnik

from .conftest import answers_in, new_job, requests_in


def _unblocked():
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


@pytest.fixture
def group():
    """A stand-in job: its own session, so its PID is its process group."""
    p = subprocess.Popen(["sleep", "60"], start_new_session=True, preexec_fn=_unblocked)
    yield p
    if p.poll() is None:
        p.kill()
    p.wait()


@pytest.fixture
def sputnik(home):
    s, job_id = new_job(home, "gtransfer")
    sp = Sputnik(s.job_path(job_id), job_id)
    yield sp
    sp.shutdown()
    sp.sleeper.release()


def controller_box(pid):
    """Publish a live controller whose box is ``PID.inbox`` on this host."""
    os.makedirs(paths.base(), exist_ok=True)
    write_atomic(paths.gsatlc_host_file(), "testhost\n")
    # With its sidecar: the start time tells it is that process (a bare
    # PID must name a controller's program).
    pidref.write_pid_file(paths.gsatlc_pid_file(), pid)
    return mbox.create_box("%d.inbox" % pid)


def test_hold_and_signal_without_a_job_fail(sputnik):
    assert sputnik.hold("", "") == P.HOLD_FAILED
    assert sputnik.signal_job("USR1", "") == P.SIGNAL_FAILED
    assert sputnik.signal_job("", "") == P.SIGNAL_FAILED


def test_hold_sends_the_job_types_signal_and_answers_once_the_group_is_gone(sputnik, group):
    sputnik.runner_pid(" %d " % group.pid, "")
    assert sputnik.group.pid == group.pid
    # Held means stopped (issue 11): no answer while the group still runs.
    assert sputnik.hold("", "") is None  # gtransfer: SIGINT
    assert group.wait(10) == -signal.SIGINT
    assert sputnik.held
    sputnik.check_held()
    assert sputnik.holding is None
    assert P.held(sputnik.job_id) in sputnik.outbox


# The job of the test below, as the child of a helper that writes how it
# ended: the sputnik under test, in this process, reaps every child of ours
# (check_held), and a Popen whose child it reaped reports exit 0.
_HOLD_HELPER = """
import os, subprocess, sys
ready, status = sys.argv[1:]
job = subprocess.Popen(["bash", "-c", 'trap "" INT; echo $$ > "$0.tmp" && mv "$0.tmp" "$0"; '
                        'while :; do sleep 0.05; done', ready], start_new_session=True)
job.wait()
with open(status + ".tmp", "w") as f:
    f.write(str(job.returncode))
os.rename(status + ".tmp", status)
"""


def _running(pid):
    """True while ``pid`` exists and is no zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_hold_of_a_job_that_ignores_the_signal_kills_it_after_the_grace(sputnik, tmp_path):
    ready, status = tmp_path / "ready", tmp_path / "status"
    helper = subprocess.Popen([sys.executable, "-c", _HOLD_HELPER, str(ready), str(status)],
                              preexec_fn=_unblocked)
    pid = None
    try:
        deadline = time.monotonic() + 10
        while not ready.exists():
            assert helper.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        pid = int(ready.read_text())
        sputnik.runner_pid(str(pid), "")
        sputnik.hold_grace = 0.3
        start = time.monotonic()
        assert sputnik.hold("", "") is None
        while not status.exists() and time.monotonic() - start < 10:
            sputnik.run_timers()
            # The kill may land inside run_timers: then the job is gone too.
            assert sputnik.holding is not None or not _running(pid), "held while the job still runs"
            time.sleep(0.01)
        assert status.read_text() == str(-signal.SIGKILL)
        assert time.monotonic() - start >= 0.3
        while sputnik.holding is not None and time.monotonic() - start < 10:
            sputnik.run_timers()
        assert sputnik.holding is None
    finally:
        if pid is not None and _running(pid):
            os.killpg(pid, signal.SIGKILL)
        if helper.poll() is None:
            helper.kill()
        try:
            helper.wait(10)
        except ChildProcessError:
            pass


def test_signal_reaches_the_group_and_bad_names_are_refused(sputnik, group):
    sputnik.runner_pid(str(group.pid), "")
    assert sputnik.signal_job("NOSUCH", "") == P.SIGNAL_FAILED
    assert sputnik.signal_job("USR1", "") == P.OK
    assert group.wait(10) == -signal.SIGUSR1


def test_reports_wait_in_the_outbox_until_a_controller_lives(sputnik, group):
    sputnik.runner_terminated("5", "")
    assert sputnik.exit == 5
    assert sputnik.outbox == [P.terminated(sputnik.job_id, 5)]
    box = controller_box(group.pid)  # SIGCONT wakes the stand-in; harmless
    assert sputnik.deliver()
    assert requests_in(box) == [(P.terminated(sputnik.job_id, 5), sputnik.box)]
    assert sputnik.outbox == []


def test_runner_messages_parse_as_classic(sputnik):
    sputnik.runner_pid("not-a-pid", "")
    assert sputnik.group is None
    sputnik.runner_terminated("garbage", "")
    assert sputnik.exit == 1


def test_trigger_with_a_reserved_name_is_refused(sputnik):
    answer = sputnik.trigger("JOB_START", "")
    assert answer.startswith(P.trigger_failed(""))


# -- the job's end: on disk before the job is reaped ---------------------------------

def _unreaped(pid):
    """True while ``pid`` is a child that has exited and is not reaped."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return False


def _ended_child(value):
    """A child of this process that has exited with ``value``, not reaped."""
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", "exit %d" % value], dict(os.environ))
    deadline = time.monotonic() + 10
    while not _unreaped(pid):
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.01)
    return pid


def test_the_jobs_end_is_on_disk_before_its_zombie_is_reaped(sputnik, monkeypatch):
    """A sputnik killed at any line leaves the exit value on disk or the job
    an unreaped zombie whose status the next owner reads; a record that
    fails (a full disk) keeps the zombie until it succeeds."""
    from gsatellite import runs

    real = runs.record_end
    seen = []

    def record_end(job_dir, value, when):
        seen.append(_unreaped(sputnik.child))
        if len(seen) == 1:
            raise OSError(28, "No space left on device")
        return real(job_dir, value, when)

    monkeypatch.setattr(runs, "record_end", record_end)
    with open(paths.job_file(sputnik.job_id, "job.start"), "w") as f:
        f.write("1\n")
    pid = sputnik.child = _ended_child(7)
    sputnik.reap()
    assert sputnik.exit == 7
    assert _unreaped(pid), "reaped before its end was on disk"
    assert not os.path.exists(paths.job_file(sputnik.job_id, "job.exit"))
    assert sputnik.outbox == []
    sputnik.reap()
    assert seen == [True, True]
    assert not _unreaped(pid)
    with open(paths.job_file(sputnik.job_id, "job.exit")) as f:
        assert f.read() == "7\n"
    with open(paths.job_file(sputnik.job_id, "job.stop")) as f:
        assert len(f.read().split()) == 1
    assert sputnik.outbox == [P.terminated(sputnik.job_id, 7)]


def test_the_controller_records_an_inherited_end_before_reaping_it():
    """The controller inherits the job of a dead sputnik (it is their
    subreaper): what it records for a child is written while the child is
    still a zombie."""
    from gsatellite.controller.system import System

    pid = _ended_child(3)
    seen = []
    System().reap(lambda p, value: seen.append((p, value, _unreaped(p))))
    assert (pid, 3, True) in seen
    assert not _unreaped(pid)


def _second_job(home, store):
    job_id, _ = store.new_id()
    src = os.path.join(str(home), "k.job")
    with open(src, "w") as f:
        f.write("exit 0\n")
    store.create(job_id, src, "default")
    return job_id


def test_taking_the_next_job_answers_first_what_came_for_the_last(sputnik, home):
    """A HOLD sent while the last job was ending must not hold the next one."""
    from gsatellite.jobstore import JobStore

    store = JobStore()
    second = _second_job(home, store)
    sputnik.exit = 0  # the first job has ended and its end is told
    sputnik.stop = True  # as the loop that supervised it leaves it
    client = mbox.create_pid_box(suffix=".t1")
    mbox.send(sputnik.box, "HOLD;%s" % client)
    sputnik.take(second, store.job_path(second))
    assert answers_in(client) == [P.HOLD_FAILED]
    assert (sputnik.job_id, sputnik.exit, sputnik.held, sputnik.holding) == (second, None, False, None)
    assert sputnik.reusable() is False  # the next job has not even started


def test_the_next_job_is_judged_by_its_own_type(sputnik, home):
    """A spare sputnik reused for the next job must not keep the last
    job's type: it decides whether a run ended for good (stage-out)."""
    from gsatellite.jobstore import JobStore

    store = JobStore()
    sputnik.job_type = "gtransfer"  # as start() read it for the first job
    assert not sputnik.ended_for_good(75)  # gtransfer runs again on EX_TEMPFAIL
    second = _second_job(home, store)
    sputnik.exit = 0
    sputnik.stop = True
    sputnik.take(second, store.job_path(second))
    assert sputnik.ended_for_good(75)  # the default type never does


def test_a_trigger_for_another_job_is_refused(sputnik, home):
    answer = sputnik.job_trigger("%s SOMETHING x" % ("9" + sputnik.job_id), "")
    assert answer == P.trigger_failed("job %s has ended" % ("9" + sputnik.job_id))
    assert not os.path.exists(paths.job_file(sputnik.job_id, "job.events"))
    assert sputnik.job_trigger("%s SOMETHING x" % sputnik.job_id, "") == P.OK
    with open(paths.job_file(sputnik.job_id, "job.events")) as f:
        assert f.read().split()[1:] == ["SOMETHING", "x"]


def test_only_a_job_ended_and_told_leaves_the_sputnik_free_for_the_next(sputnik):
    sputnik.exit = 0
    assert sputnik.reusable()
    for attr, value in (("held", True), ("adopted", True), ("outbox", ["TERMINATED 1 0"]),
                        ("unwritten", 1.0), ("triggers", {1: {}}), ("leaving", True)):
        saved = getattr(sputnik, attr)
        setattr(sputnik, attr, value)
        assert not sputnik.reusable(), attr
        setattr(sputnik, attr, saved)
    assert sputnik.handle_stop("", "") == P.STOPPING
    assert not sputnik.reusable()


def test_a_fifo_as_the_jobs_copy_fails_the_start_without_blocking(sputnik):
    """The copy is read for its #! line; a FIFO put in its place since the
    controller looked must fail the start, not hang the sputnik."""
    import threading

    os.unlink(sputnik.job_path)
    os.mkfifo(sputnik.job_path)
    outcome = []
    cwd = os.getcwd()

    def start():
        try:
            outcome.append(sputnik._spawn_job({"GSAT_O_PATH": os.environ["PATH"]}))
        except OSError as e:
            outcome.append(e)

    t = threading.Thread(target=start, daemon=True)
    try:
        t.start()
        t.join(5)
        blocked = t.is_alive()
        if blocked:  # let the blocked open go, so the thread ends
            os.close(os.open(sputnik.job_path, os.O_WRONLY | os.O_NONBLOCK))
            t.join(5)
    finally:
        os.chdir(cwd)
        for pid in [o for o in outcome if isinstance(o, int)]:  # a job spawned all the same
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert not blocked, "the sputnik blocked opening a FIFO"
    assert isinstance(outcome[0], OSError) and "not a regular file" in str(outcome[0])


def test_only_the_controllers_sputniks_leave_a_job_when_their_parent_is_gone(monkeypatch):
    """sputnikd (run by a classic controller) exits as soon as it has
    forked the sputnik: tied to it, the sputnik left every job when it
    looked after sputnikd's exit (the e2e test of sputnikd under a classic
    controller failed so in a CI run)."""
    from gsatellite import proc, sputnik

    seen = []
    monkeypatch.setattr(sputnik, "supervise", lambda *args: seen.append(args) or 0)
    monkeypatch.setattr(proc, "close_fds", lambda: None)
    monkeypatch.setattr(proc, "spawn_session", lambda body: body())
    sputnik.launch("/j", "00000")
    sputnik.launch("/j", "00001", for_controller=True)
    assert seen == [("/j", "00000", False, None), ("/j", "00001", False, os.getpid())]

"""gqwait (FEATURES.md §1): blocking on a FIFO until jobs have ended.

* Exit values: 0, the job's own value (3), 128+15 for a job killed by
  SIGTERM (``gqsig``); five concurrent waiters on one job all get it; an
  already ended job answers at once, also through ``gsatctl --qwait``/``-w``
  and with the controller stopped.
* Several ids: without ``--any`` the first non-zero value in argument
  order once all have ended; with ``--any`` the value of the first job to
  end, while the other still runs.
* ``--timeout`` exits 124; a timeout, Ctrl-C (SIGINT) and SIGTERM leave no
  FIFO and no registration (``job.waiters``) behind, also when Ctrl-C
  comes during the registration round trip.
* Unknown id: exit 1 with a message; a job deleted while waited for: exit 1.
* The registration lives in the job directory: a waiter outlives a
  ``kill -9`` of the controller and its restart, whether the job ends after
  the restart or while no controller runs.
* A waiting gqwait uses no CPU: over 2 s in its select(), at most one
  clock tick of utime+stime and no voluntary context switch (no wake-ups).
* A gtransfer job's automatic restarts are not an end: the waiter returns
  only after the final run.

Every test points ``XDG_RUNTIME_DIR`` at a private directory, so the FIFOs
of one test are the only ones there and "nothing left behind" can be
checked exactly.
"""

import os
import signal
import subprocess
import time

import pytest

from gsatellite import pidref

ENDED = ("finished", "failed")


# -- helpers ---------------------------------------------------------------------------



@pytest.fixture
def runtime(gsat):
    """A private XDG_RUNTIME_DIR; returns the directory gqwait puts FIFOs in."""
    run = str(gsat.tmp / "run")
    os.mkdir(run, 0o700)
    gsat.env["XDG_RUNTIME_DIR"] = run
    return os.path.join(run, "gsatellite")


def _spawn(gsat, procs, *argv):
    p = subprocess.Popen(
        list(argv), env=gsat.env, cwd=gsat.jobs, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    procs.append(p)
    gsat.extra_pids.append(p.pid)
    return p


def _finish(p, timeout=60):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def _gate(gsat, name):
    """Shell lines that block a job until the test creates file ``name``."""
    path = os.path.join(gsat.jobs, name)
    return 'while [ ! -e "%s" ]; do sleep 0.05; done\n' % path


def _open_gate(gsat, name):
    with open(os.path.join(gsat.jobs, name), "w"):
        pass


def _waiters_file(gsat, job_id):
    return os.path.join(gsat.job_dir(job_id), "job.waiters")


def _registrations(gsat, job_id):
    return gsat.attr(job_id, "job.waiters").splitlines()


def _wait_registered(gsat, job_id, n):
    gsat.wait_for(lambda: len(_registrations(gsat, job_id)) >= n, what="%d waiters of job %s" % (n, job_id))


def _fifos(fifo_dir):
    try:
        return sorted(n for n in os.listdir(fifo_dir) if n.startswith("gqwait."))
    except FileNotFoundError:
        return []


def _wait_blocked(gsat, pid):
    """Wait until gqwait sleeps in its select() on the FIFO (not in the
    registration round trip, which sleeps in sigtimedwait)."""
    def in_select():
        try:
            with open("/proc/%d/wchan" % pid) as f:
                return f.read().startswith("poll_schedule_timeout")
        except OSError:
            return False
    gsat.wait_for(in_select, what="gqwait %d blocked in select()" % pid)


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- exit values -------------------------------------------------------------------------

def test_exit_values_of_finished_failed_and_killed_jobs(gsat, procs, runtime):
    gsat.start(scheduler="nobatch")
    ok = gsat.qsub(gsat.job("ok.job", _gate(gsat, "go") + "exit 0\n"))
    bad = gsat.qsub(gsat.job("bad.job", _gate(gsat, "go") + "exit 3\n"))
    killed = gsat.qsub(gsat.job("killed.job", _gate(gsat, "never")))
    for job_id in (ok, bad, killed):
        gsat.wait_state(job_id, "running")
    waits = {job_id: _spawn(gsat, procs, "gqwait", job_id) for job_id in (ok, bad, killed)}
    for job_id, p in waits.items():
        _wait_registered(gsat, job_id, 1)
        host, fifo = _registrations(gsat, job_id)[0].split(" ", 1)
        assert (host, fifo) == (gsat.host(), os.path.join(runtime, "gqwait.%d.fifo" % p.pid))
    _open_gate(gsat, "go")
    assert gsat.run("gqsig", killed).returncode == 0
    results = {job_id: _finish(p) for job_id, p in waits.items()}
    assert results == {ok: (0, "", ""), bad: (3, "", ""), killed: (128 + signal.SIGTERM, "", "")}
    assert gsat.attr(killed, "job.exit") == "143"
    for job_id in (ok, bad, killed):
        assert not os.path.exists(_waiters_file(gsat, job_id))
    assert _fifos(runtime) == []


def test_job_that_kills_itself_with_sigterm(gsat, procs, runtime):
    gsat.start()
    a = gsat.qsub(gsat.job("self.job", _gate(gsat, "go") + "kill -TERM $$\nsleep 30\n"))
    p = _spawn(gsat, procs, "gqwait", a)
    _wait_registered(gsat, a, 1)
    _open_gate(gsat, "go")
    assert _finish(p) == (143, "", "")


def test_five_concurrent_waiters_all_get_the_value(gsat, procs, runtime):
    gsat.start()
    a = gsat.qsub(gsat.job("five.job", _gate(gsat, "go") + "exit 5\n"))
    waits = [_spawn(gsat, procs, "gqwait", a) for _ in range(5)]
    _wait_registered(gsat, a, 5)
    assert len(set(_registrations(gsat, a))) == 5
    assert len(_fifos(runtime)) == 5
    _open_gate(gsat, "go")
    assert [_finish(p) for p in waits] == [(5, "", "")] * 5
    assert gsat.state(a) == "failed"
    assert not os.path.exists(_waiters_file(gsat, a))
    assert _fifos(runtime) == []


def test_ended_job_answers_at_once_even_with_controller_stopped(gsat, runtime):
    gsat.start()
    ok = gsat.qsub(gsat.job("ok.job", "exit 0\n"))
    bad = gsat.qsub(gsat.job("bad.job", "exit 4\n"))
    gsat.wait_state(ok, ENDED)
    gsat.wait_state(bad, ENDED)
    for argv in (("gqwait",), ("gsatctl", "--qwait"), ("gsatctl", "-w")):
        assert gsat.run(*argv, ok, timeout=30).returncode == 0
        p = gsat.run(*argv, bad, timeout=30)
        assert (p.returncode, p.stdout, p.stderr) == (4, "", "")
    assert gsat.stop().returncode == 0
    assert gsat.run("gsatlcd", "--status").returncode == 1
    p = gsat.run("gqwait", bad, timeout=30)
    assert (p.returncode, p.stdout, p.stderr) == (4, "", "")
    assert gsat.run("gqwait", ok, bad, timeout=30).returncode == 4
    assert gsat.run("gqwait", ok, timeout=30).returncode == 0
    assert _fifos(runtime) == []


# -- several ids ---------------------------------------------------------------------------

def test_several_ids_wait_for_all_first_nonzero_in_argument_order(gsat, procs, runtime):
    gsat.start(scheduler="nobatch")
    a = gsat.qsub(gsat.job("a.job", _gate(gsat, "go_a") + "exit 0\n"))
    b = gsat.qsub(gsat.job("b.job", _gate(gsat, "go_b") + "exit 2\n"))
    c = gsat.qsub(gsat.job("c.job", _gate(gsat, "go_c") + "exit 9\n"))
    p = _spawn(gsat, procs, "gqwait", a, b, c)
    for job_id in (a, b, c):
        _wait_registered(gsat, job_id, 1)
    # c ends first and b last: the answer is still b's, the first non-zero
    # one in argument order, and only once all three have ended.
    _open_gate(gsat, "go_c")
    gsat.wait_state(c, ENDED)
    _open_gate(gsat, "go_a")
    gsat.wait_state(a, ENDED)
    assert p.poll() is None
    _open_gate(gsat, "go_b")
    assert _finish(p) == (2, "", "")
    assert _fifos(runtime) == []


def test_any_returns_the_value_of_the_first_job_to_end(gsat, procs, runtime):
    gsat.start(scheduler="nobatch")
    a = gsat.qsub(gsat.job("a.job", _gate(gsat, "go_a") + "exit 0\n"))
    b = gsat.qsub(gsat.job("b.job", _gate(gsat, "go_b") + "exit 6\n"))
    gsat.wait_state(a, "running")
    p = _spawn(gsat, procs, "gqwait", "--any", a, b)
    _wait_registered(gsat, a, 1)
    _wait_registered(gsat, b, 1)
    _open_gate(gsat, "go_b")
    assert _finish(p) == (6, "", "")
    assert gsat.state(a) == "running"
    # The waiter unregistered from the job it no longer waits for.
    assert not os.path.exists(_waiters_file(gsat, a))
    assert _fifos(runtime) == []
    _open_gate(gsat, "go_a")
    assert gsat.wait_state(a, ENDED) == "finished"


# -- leaving nothing behind ------------------------------------------------------------------

def test_timeout_exits_124_and_leaves_nothing_behind(gsat, runtime):
    gsat.start()
    a = gsat.qsub(gsat.job("long.job", _gate(gsat, "go")))
    gsat.wait_state(a, "running")
    p = gsat.run("gqwait", "--timeout", "1", a, timeout=60)
    assert p.returncode == 124
    assert "timed out" in p.stderr
    assert _fifos(runtime) == []
    assert not os.path.exists(_waiters_file(gsat, a))
    assert gsat.state(a) == "running"
    _open_gate(gsat, "go")
    assert gsat.wait_state(a, ENDED) == "finished"


@pytest.mark.parametrize("signo, value", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_waiter_leaves_nothing_behind(gsat, procs, runtime, signo, value):
    gsat.start()
    a = gsat.qsub(gsat.job("long.job", _gate(gsat, "go")))
    p = _spawn(gsat, procs, "gqwait", a)
    _wait_registered(gsat, a, 1)
    _wait_blocked(gsat, p.pid)
    fifo = os.path.join(runtime, "gqwait.%d.fifo" % p.pid)
    assert _fifos(runtime) == [os.path.basename(fifo)]
    p.send_signal(signo)
    code, out, err = _finish(p)
    assert code == value
    assert _fifos(runtime) == []
    assert not os.path.exists(_waiters_file(gsat, a))
    # The job itself is untouched and, when it ends, nobody is told.
    assert gsat.state(a) == "running"
    _open_gate(gsat, "go")
    assert gsat.wait_state(a, ENDED) == "finished"


@pytest.mark.slow
def test_ctrl_c_during_registration_leaves_no_registration(gsat, procs, runtime):
    from gsatellite.transport import mbox

    gsat.start()
    a = gsat.qsub(gsat.job("long.job", _gate(gsat, "go")))
    gsat.wait_state(a, "running")
    # A stand-in controller that never answers (a stopped gsatlc would be
    # woken by gqwait's SIGCONT): gqwait's Ctrl-C then certainly falls
    # between sending QWAIT and reading the answer.  Whatever gqwait sent
    # is handed to the real controller afterwards, in order.
    os.kill(gsat.controller_pid(), signal.SIGKILL)
    gsat.wait_for(lambda: not _alive(gsat.controller_pid()), what="controller gone")
    dummy = _spawn(gsat, procs, "sleep", "300")
    # With its sidecar: a bare PID must name a controller's program.
    pidref.write_pid_file(os.path.join(gsat.g, "gsatlcPid"), dummy.pid)
    dummy_box = os.path.join(gsat.g, "mboxes", gsat.host(), "%d.inbox" % dummy.pid)
    os.mkdir(dummy_box, 0o700)
    p = _spawn(gsat, procs, "gqwait", a)
    def qwait_sent():
        # Only gqwait's QWAIT is the sentinel: the job's sputnik also sends
        # (STARTED, again and again) to whatever gsatlcPid names.
        for path in mbox.pending(dummy_box):
            try:
                with open(path) as f:
                    if f.read().startswith("QWAIT "):
                        return True
            except OSError:
                pass
        return False

    gsat.wait_for(qwait_sent, what="QWAIT in the stand-in's box")
    p.send_signal(signal.SIGINT)
    code, out, err = _finish(p)
    assert code == 130, err
    sent = []
    for path in mbox.pending(dummy_box):
        with open(path) as f:
            text = f.read().strip()
        if not text.startswith("STARTED "):  # the sputnik's, not gqwait's
            sent.append(text)
    dummy.kill()
    dummy.wait()
    gsat.run("gsatlcd", "--start", check=True)
    box = gsat.controller_box()
    for message in sent:
        mbox.send(box, message)
    # Messages are handled in box order: once ALIVE? is answered, what
    # gqwait sent has been handled too.
    assert gsat.run("sendcmd", "-c", "ALIVE?", "-m", box, "--timeout", "30").stdout == "YES\n"
    # The unanswered QWAIT was withdrawn unread, so nothing needed undoing
    # (and no QUNWAIT was sent for it).
    assert sent == []
    assert _fifos(runtime) == []
    assert _registrations(gsat, a) == []
    _open_gate(gsat, "go")
    gsat.wait_state(a, ENDED)


def test_unknown_id(gsat, runtime):
    gsat.start()
    for text in ("99999", "nonsense"):
        p = gsat.run("gqwait", text)
        assert p.returncode == 1
        assert p.stdout == ""
        assert 'Invalid job id "%s"!' % text in p.stderr
    assert _fifos(runtime) == []


def test_job_deleted_while_waited_for(gsat, procs, runtime):
    gsat.start()  # fifo, one slot: b stays queued behind a
    a = gsat.qsub(gsat.job("a.job", _gate(gsat, "go")))
    b = gsat.qsub(gsat.job("b.job", "exit 0\n"))
    gsat.wait_state(a, "running")
    assert gsat.state(b) == "queued"
    p = _spawn(gsat, procs, "gqwait", b)
    _wait_registered(gsat, b, 1)
    assert gsat.run("gqdel", b).returncode == 0
    code, out, err = _finish(p)
    assert code == 1
    assert "deleted" in err
    assert _fifos(runtime) == []
    _open_gate(gsat, "go")
    gsat.wait_state(a, ENDED)


# -- controller restart ------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("job_ends", ["after_restart", "while_down"])
def test_waiter_survives_controller_kill9_and_restart(gsat, procs, runtime, job_ends):
    gsat.start()
    a = gsat.qsub(gsat.job("a.job", _gate(gsat, "go") + "exit 7\n"))
    gsat.wait_state(a, "running")
    p = _spawn(gsat, procs, "gqwait", a)
    _wait_registered(gsat, a, 1)
    # Past the QWAIT round trip: a controller killed before its answer
    # arrives makes gqwait give up (69), which is not what this is about.
    _wait_blocked(gsat, p.pid)
    old = gsat.controller_pid()
    os.kill(old, signal.SIGKILL)
    gsat.wait_for(lambda: not _alive(old), what="killed controller gone")
    if job_ends == "while_down":
        _open_gate(gsat, "go")
        gsat.wait_for(lambda: gsat.attr(a, "job.exit") == "7", what="job exit recorded")
        assert gsat.state(a) == "running"  # nobody has told the store yet
    assert p.poll() is None
    assert _registrations(gsat, a) != []
    gsat.run("gsatlcd", "--start", check=True)
    assert gsat.controller_pid() not in (None, old)
    if job_ends == "after_restart":
        assert p.poll() is None
        _open_gate(gsat, "go")
    assert _finish(p) == (7, "", "")
    assert gsat.state(a) == "failed"
    assert not os.path.exists(_waiters_file(gsat, a))
    assert _fifos(runtime) == []


# -- no busy waiting ---------------------------------------------------------------------------

def _voluntary_switches(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc/%d/status" % pid)


def _cpu_ticks(pid):
    """(state, utime + stime in clock ticks) from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the ")" that ends comm: state is field 3 of proc(5), utime 14, stime 15.
    return fields[0], int(fields[11]) + int(fields[12])


@pytest.mark.slow
def test_waiting_uses_no_cpu(gsat, procs, runtime):
    gsat.start()
    a = gsat.qsub(gsat.job("long.job", _gate(gsat, "go") + "exit 0\n"))
    p = _spawn(gsat, procs, "gqwait", a)
    _wait_registered(gsat, a, 1)
    _wait_blocked(gsat, p.pid)
    state1, before = _cpu_ticks(p.pid)
    switches = _voluntary_switches(p.pid)
    time.sleep(2)
    state2, after = _cpu_ticks(p.pid)
    switches = _voluntary_switches(p.pid) - switches
    assert (state1, state2) == ("S", "S")
    # The kernel accounts CPU time in nanoseconds and /proc reports it
    # rounded down to clock ticks (10 ms), so a process that is idle but had
    # already used e.g. 9.99 ms past a tick boundary may show one more tick
    # on the second read after a few microseconds of kernel bookkeeping.
    # A polling loop over 2 s would cost far more than one tick.
    assert after - before <= 1, "gqwait used %d clock ticks while waiting" % (after - before)
    # Clock ticks cannot see a slow polling loop (a wake-up every 50 ms
    # costs well under a tick in 2 s); every such wake-up is a voluntary
    # context switch, and a process blocked on a silent FIFO makes none.
    assert switches == 0, "gqwait woke up %d times while waiting" % switches
    _open_gate(gsat, "go")
    assert _finish(p) == (0, "", "")


# -- automatic restarts are not an end ---------------------------------------------------------

@pytest.mark.slow
def test_gtransfer_restarts_are_not_an_end(gsat, procs, runtime):
    gsat.start()
    # The counter lives in the job's working directory (jobtmp/), which is
    # kept across restarts.  The later runs sleep, so a waiter woken by an
    # intermediate run would see the counter below 3.
    body = (
        "#GSAT -T gtransfer\n"
        "n=$(( $(cat count 2>/dev/null || echo 0) + 1 ))\n"
        "echo $n > count\n"
        'if [ "$n" -eq 1 ]; then\n' + _gate(gsat, "go") + "fi\n"
        "sleep 0.5\n"
        '[ "$n" -lt 3 ] && exit 75\n'
        "exit 0\n"
    )
    a = gsat.qsub(gsat.job("gt.job", body))
    gsat.wait_state(a, "running")
    p = _spawn(gsat, procs, "gqwait", a)
    _wait_registered(gsat, a, 1)
    _open_gate(gsat, "go")
    p.wait(timeout=120)
    with open(os.path.join(gsat.job_dir(a), "jobtmp", "count")) as f:
        count = f.read().strip()
    assert count == "3"
    assert gsat.state(a) == "finished"
    assert _finish(p) == (0, "", "")
    assert gsat.attr(a, "job.restarts") == "2"
    assert len(gsat.attr(a, "job.start").split()) == 3
    assert _fifos(runtime) == []

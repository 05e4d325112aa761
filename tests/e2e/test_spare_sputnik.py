"""The spare sputnik: while jobs wait for a slot, the controller keeps one
sputnik forked in advance (``sputnik spare``), which takes the next job
instead of a fork at its start (lib/gsatellite/sputnik.py, "spares").

Checked on the real processes: the spare exists only while jobs wait, takes
the next job (it becomes that job's sputnik), a sputnik whose job has ended
takes the next one while jobs wait, and they leave nothing behind —
no process, no System V queue, no box — when the queue empties, when it is
killed with ``kill -9`` before it has a job or after it was given one it
had not read yet (the job still runs, once), and when its controller is
killed with ``kill -9``.
"""

import os
import signal

from .procfs import alive, cmdline, pids, ppid, read


def _spares(controller):
    """PIDs of the ``sputnik spare`` children of ``controller``."""
    return [pid for pid in pids()
            if cmdline(pid) == "sputnik spare" and ppid(pid) == controller and alive(pid)]


def _gate_job(gsat, name, gate):
    """A job that runs until the file ``gate`` exists."""
    return gsat.job(name, "while [ ! -e %s ]; do sleep 0.02; done\n" % gate)


def _boxes(gsat):
    d = os.path.join(gsat.g, "mboxes", gsat.host())
    return sorted(n for n in os.listdir(d) if n.endswith(".inbox")) if os.path.isdir(d) else []


def _own_boxes(gsat, pid):
    return [n for n in _boxes(gsat) if n.split(".")[0] == str(pid)]


def _registry(gsat):
    d = os.path.join(gsat.g, "var", "run", gsat.host(), "sysv")
    return sorted(n for n in os.listdir(d) if n.isdigit()) if os.path.isdir(d) else []


def _start_two(gsat):
    """A running job held open by a gate, and a plain job waiting behind it."""
    gsat.start(slots=1)
    gate = os.path.join(gsat.jobs, "gate")
    a = gsat.qsub(_gate_job(gsat, "a.job", gate))
    b = gsat.qsub(gsat.job("b.job", "echo b >> %s/ran\n" % gsat.jobs))
    gsat.wait_for(lambda: gsat.attr(a, "job.pid"), what="job a running")
    controller = gsat.controller_pid()
    gsat.wait_for(lambda: _spares(controller), what="a spare sputnik")
    return a, b, gate, controller


def _ran(gsat):
    return read(os.path.join(gsat.jobs, "ran")).split()


def test_the_spare_takes_the_next_job_and_goes_with_the_queue(gsat):
    a, b, gate, controller = _start_two(gsat)
    [spare] = _spares(controller)
    assert gsat.state(b) == "queued"
    # Held, a's sputnik leaves with its job (one that ended would take b).
    assert gsat.run("gqhold", a).returncode == 0
    open(gate, "w").close()
    gsat.wait_state(b, ("finished", "failed"))
    assert gsat.state(a) == "held"
    assert gsat.state(b) == "finished"
    # The spare became b's sputnik.
    assert gsat.attr(b, "sputnik.pid") == str(spare)
    assert _ran(gsat) == ["b"]
    # Nothing waits any more: no spare is kept, and the one that took b
    # is gone with its queue and box.
    gsat.wait_for(lambda: not _spares(controller) and not alive(spare), what="no spare left")
    gsat.wait_for(lambda: not _own_boxes(gsat, spare), what="the spare's box removed")
    if os.environ.get("GSAT_TRANSPORT") == "sysv":
        gsat.wait_for(lambda: str(spare) not in _registry(gsat), what="the spare's queue removed")


def test_a_sputnik_that_ended_its_job_supervises_the_next_one(gsat):
    a, b, gate, controller = _start_two(gsat)
    c = gsat.qsub(gsat.job("c.job", "echo c >> %s/ran\n" % gsat.jobs))
    sputnik = gsat.attr(a, "sputnik.pid")
    open(gate, "w").close()
    gsat.wait_state(c, ("finished", "failed"))
    assert [gsat.state(j) for j in (a, b, c)] == ["finished"] * 3
    assert _ran(gsat) == ["b", "c"]
    # One process supervised the three, one after the other: no fork per job.
    assert [gsat.attr(j, "sputnik.pid") for j in (a, b, c)] == [sputnik] * 3
    for job in (a, b, c):
        log = gsat.attr(job, "sputnik.log")
        others = [j for j in (a, b, c) if j != job]
        assert "job %s started" % job in log and not any("job %s " % j in log for j in others), log
        assert 'export GSAT_O_JOBID="%s"' % job in gsat.attr(job, "job.env").splitlines()
        assert gsat.attr(job, "job.start").count("\n") == 0  # one run each
    # With nothing left to run it goes, with its box and its queue.
    gsat.wait_for(lambda: not alive(int(sputnik)), what="the sputnik gone")
    gsat.wait_for(lambda: not _own_boxes(gsat, sputnik), what="its box removed")
    if os.environ.get("GSAT_TRANSPORT") == "sysv":
        gsat.wait_for(lambda: sputnik not in _registry(gsat), what="its queue removed")
    assert not _spares(controller)


def test_a_sputnik_still_busy_after_its_jobs_end_is_not_given_the_next(gsat):
    """Job a ends while a service it triggered with --wait still runs: its
    sputnik must answer that trigger before it can take another job, so b
    goes to another sputnik at once (neither waits for the service, nor is
    handed to a process that is not reading)."""
    gsat.start(slots=1)
    started, gate = os.path.join(gsat.jobs, "started"), os.path.join(gsat.jobs, "gate")
    gsat.service("SLOW", "slow", "touch %s\nwhile [ ! -e %s ]; do sleep 0.02; done\n" % (started, gate))
    a = gsat.qsub(gsat.job("a.job", "trigger --wait SLOW &\nwhile [ ! -e %s ]; do sleep 0.02; done\n" % started))
    b = gsat.qsub(gsat.job("b.job", "echo b >> %s/ran\n" % gsat.jobs))
    try:
        gsat.wait_state(b, ("finished", "failed"))
        assert [gsat.state(a), gsat.state(b)] == ["finished", "finished"]
        assert not os.path.exists(gate)  # the service of a still runs
        busy = gsat.attr(a, "sputnik.pid")
        assert gsat.attr(b, "sputnik.pid") != busy and alive(int(busy))
        assert _ran(gsat) == ["b"]
    finally:
        open(gate, "w").close()
    # Once its trigger is answered, a's sputnik, let go, leaves.
    gsat.wait_for(lambda: not alive(int(busy)), what="a's sputnik gone")
    assert _ran(gsat) == ["b"]


def test_a_spare_killed_before_its_job_loses_nothing(gsat):
    a, b, gate, controller = _start_two(gsat)
    [spare] = _spares(controller)
    os.kill(spare, signal.SIGKILL)
    gsat.wait_for(lambda: not alive(spare), what="the spare gone")
    open(gate, "w").close()
    gsat.wait_state(b, ("finished", "failed"))
    assert gsat.state(a) == "finished" and gsat.state(b) == "finished"
    assert _ran(gsat) == ["b"]
    assert gsat.attr(b, "job.start").count("\n") == 0  # one run
    assert gsat.attr(b, "sputnik.pid") != str(spare)


def test_a_spare_ends_with_its_controller(gsat):
    a, b, gate, controller = _start_two(gsat)
    [spare] = _spares(controller)
    os.kill(controller, signal.SIGKILL)
    # End-of-file on its pipe: the spare closes its inbox and exits.
    gsat.wait_for(lambda: not alive(spare), what="the spare gone with its controller")
    assert not _own_boxes(gsat, spare)
    assert str(spare) not in _registry(gsat)
    # The next controller runs b, once.
    gsat.start()
    open(gate, "w").close()
    gsat.wait_state(b, ("finished", "failed"), timeout=60)
    assert gsat.state(b) == "finished"
    assert _ran(gsat) == ["b"]


def test_a_sputnik_killed_after_it_was_given_a_job_but_before_it_read_it(gsat):
    """The spare is stopped, given b (a was held, so no sputnik of an ended
    job serves), then killed with ``kill -9`` before it could read b from
    its socket: b goes back to the queue and runs once, on another sputnik."""
    a, b, gate, controller = _start_two(gsat)
    [spare] = _spares(controller)
    os.kill(spare, signal.SIGSTOP)
    try:
        assert gsat.run("gqhold", a).returncode == 0
        # The controller has handed b to the stopped spare.
        gsat.wait_for(lambda: gsat.attr(b, "sputnik.pid") == str(spare) or gsat.state(b) == "running",
                      what="b given to the stopped spare")
        assert cmdline(spare) == "sputnik spare"  # it never read b
    finally:
        os.kill(spare, signal.SIGKILL)
        try:
            os.kill(spare, signal.SIGCONT)
        except ProcessLookupError:
            pass  # reaped already by its controller
    gsat.wait_for(lambda: not alive(spare), what="the spare gone")
    gsat.wait_state(b, ("finished", "failed"), timeout=60)
    assert gsat.state(b) == "finished"
    assert _ran(gsat) == ["b"]
    assert gsat.attr(b, "sputnik.pid") != str(spare)
    assert gsat.state(a) == "held"
    assert gsat.attr(b, "job.start").count("\n") == 0  # one run


def test_a_spares_reports_go_on_its_socket_and_its_job_does_not_inherit_it(gsat):
    """STARTED and TERMINATED of a job whose sputnik holds a socket to its
    controller go there (no message through the transport); the job's
    process has no socket among its descriptors."""
    gsat.start(slots=1)
    fds = os.path.join(gsat.jobs, "fds")
    a = gsat.qsub(gsat.job("a.job", "ls -l /proc/$$/fd/ > %s\n" % fds))
    b = gsat.qsub(gsat.job("b.job", "true\n"))
    gsat.wait_state(b, ("finished", "failed"))
    assert [gsat.state(a), gsat.state(b)] == ["finished", "finished"]
    for job in (a, b):
        log = gsat.attr(job, "sputnik.log")
        for report in ("STARTED %s" % job, "TERMINATED %s 0" % job):
            assert "told controller over its socket: %s" % report in log, log
        assert "told controller: " not in log, log
    listing = read(fds)
    assert "->" in listing and "socket:" not in listing, listing


def test_a_spare_whose_controller_died_tells_the_end_to_the_next_one(gsat):
    """kill -9 of the controller while a job of a socket's sputnik runs:
    the end goes through the transport to the next controller, once."""
    gsat.start(slots=1)
    gate = os.path.join(gsat.jobs, "gate")
    a = gsat.qsub(_gate_job(gsat, "a.job", gate))
    gsat.wait_for(lambda: gsat.attr(a, "job.pid"), what="job a running")
    sputnik = int(gsat.attr(a, "sputnik.pid"))
    gsat.wait_for(lambda: "over its socket: STARTED %s" % a in (gsat.attr(a, "sputnik.log") or ""),
                  what="STARTED told on the socket")
    controller = gsat.controller_pid()
    os.kill(controller, signal.SIGKILL)
    gsat.wait_for(lambda: ppid(sputnik) != controller, what="the sputnik an orphan")
    assert alive(sputnik)
    gsat.start()
    open(gate, "w").close()
    gsat.wait_state(a, ("finished", "failed"), timeout=60)
    assert gsat.state(a) == "finished"
    log = gsat.attr(a, "sputnik.log")
    assert "told controller: TERMINATED %s 0" % a in log, log
    assert "over its socket: TERMINATED" not in log, log
    assert gsat.attr(a, "job.start").count("\n") == 0  # one run


def test_a_released_job_whose_new_sputnik_is_lost_does_not_run_for_ever(gsat):
    """Held, its first sputnik says HELD on its socket and leaves; released,
    the job runs under a second one, killed with kill -9: the job's end is
    accounted for (the first sputnik's end was judged when it left, so it
    is not taken for the job's supervisor still)."""
    gsat.start(slots=1)
    gate = os.path.join(gsat.jobs, "gate")
    a = gsat.qsub(_gate_job(gsat, "a.job", gate))
    gsat.wait_for(lambda: gsat.attr(a, "job.pid"), what="job a running")
    first, first_run = int(gsat.attr(a, "sputnik.pid")), gsat.attr(a, "job.pid")
    assert gsat.run("gqhold", a).returncode == 0
    gsat.wait_state(a, ("held",))
    gsat.wait_for(lambda: not alive(first), what="the first sputnik gone")
    assert gsat.run("gqrls", a).returncode == 0
    gsat.wait_for(lambda: (gsat.attr(a, "job.pid") or first_run) != first_run, what="a running again")
    second = int(gsat.attr(a, "sputnik.pid"))
    assert second != first
    os.kill(second, signal.SIGKILL)
    open(gate, "w").close()
    gsat.wait_state(a, ("finished", "failed"), timeout=30)

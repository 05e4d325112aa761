"""Processes that are not ours, jobs that will not stop, supervisors that die
(issue 11, items 2-4).

A *stranger* is a process the test starts in a session of its own that
records every signal it gets in a sentinel file.  It is planted at the PID
a PID file names, with the start time recorded beside it (``FILE.start``)
saying it is another process, as after a ``kill -9`` and PID reuse.  To show
that nothing was signalled, the test then sends the stranger SIGUSR1 itself
and waits for that line: a signal sent before it would be in the file too.
"""

import os
import signal
import subprocess
import sys

from .procfs import alive, group_gone as _group_gone, ppid, read as _read

ENDED = ("finished", "failed")
LOST = "supervisor lost, no exit value recorded"

STRANGER = (
    'for s in TERM INT HUP CONT USR1 USR2 QUIT; do trap "echo $s >> %(log)s" $s; done\n'
    'touch %(ready)s\n'
    'while :; do sleep 0.05; done\n'
)


class Stranger:
    def __init__(self, gsat, procs, name="stranger"):
        self.log = os.path.join(str(gsat.tmp), name + ".signals")
        ready = os.path.join(str(gsat.tmp), name + ".ready")
        self.p = subprocess.Popen(["bash", "-c", STRANGER % {"log": self.log, "ready": ready}],
                                  start_new_session=True, stdin=subprocess.DEVNULL)
        procs.append(self.p)
        self.pid = self.p.pid
        gsat.wait_for(lambda: os.path.exists(ready), what="stranger's traps")

    def plant(self, pid_file):
        """Make ``pid_file`` name us, with a start time that is not ours."""
        with open(pid_file + ".start", "w") as f:
            f.write("%d 1\n" % self.pid)
        with open(pid_file, "w") as f:
            f.write("%d\n" % self.pid)

    def signals(self, gsat):
        """Every signal received so far (waits for our own USR1 marker)."""
        os.kill(self.pid, signal.SIGUSR1)
        gsat.wait_for(lambda: "USR1" in self._lines(), what="stranger's USR1 marker")
        assert self.p.poll() is None, "the stranger died"
        return [s for s in self._lines() if s != "USR1"]

    def _lines(self):
        try:
            with open(self.log) as f:
                return f.read().split()
        except FileNotFoundError:
            return []


def _dead(pid):
    return not alive(pid)


# -- item 2: never signal a process that is not ours ---------------------------------

def test_gsatlcd_stop_after_kill9_never_signals_the_process_at_the_controllers_pid(gsat, procs):
    gsat.start()
    pid = gsat.controller_pid()
    os.kill(pid, signal.SIGKILL)
    gsat.wait_for(lambda: _dead(pid), what="controller gone")
    stranger = Stranger(gsat, procs)
    stranger.plant(os.path.join(gsat.g, "gsatlcPid"))
    p = gsat.run("gsatlcd", "--stop")
    assert p.returncode == 1 and "was not running" in p.stderr, (p.returncode, p.stderr)
    assert stranger.signals(gsat) == []
    assert not os.path.exists(os.path.join(gsat.g, "gsatlcPid"))


def test_gsatlcd_stop_never_signals_a_classic_gsatlcpid_of_another_program(gsat, procs):
    """No start time recorded (a classic controller wrote the file): the
    process must be a gsatlc."""
    stranger = Stranger(gsat, procs)
    os.makedirs(gsat.g, exist_ok=True)
    with open(os.path.join(gsat.g, "gsatlcPid"), "w") as f:
        f.write("%d\n" % stranger.pid)
    with open(os.path.join(gsat.g, "gsatlcHostName"), "w") as f:
        f.write(gsat.run("hostname", "--fqdn").stdout.strip() or "localhost")
    p = gsat.run("gsatlcd", "--stop")
    assert p.returncode == 1, p.stderr
    assert stranger.signals(gsat) == []


def test_controller_shutdown_never_signals_the_process_at_a_stale_sigfwd_pid(gsat, procs):
    gsat.start()
    run = os.path.join(gsat.g, "var", "run", gsat.host())
    pid_file = os.path.join(run, "sigfwd.pid")
    fwd = int(_read(pid_file))
    os.kill(fwd, signal.SIGKILL)
    gsat.wait_for(lambda: _dead(fwd), what="sigfwd gone")
    stranger = Stranger(gsat, procs)
    stranger.plant(pid_file)
    assert gsat.run("sigfwdd", "--stop").returncode == 1
    assert gsat.stop().returncode == 0
    assert stranger.signals(gsat) == []


def test_hold_never_reaches_the_process_at_a_stale_sputnik_pid(gsat, procs):
    gsat.start(sputnik_timeout=3)
    a = gsat.qsub(gsat.job("long.job", "touch ready\nwhile :; do sleep 0.05; done\n"))
    gsat.wait_for(lambda: os.path.exists(os.path.join(gsat.job_dir(a), "jobtmp", "ready")), what="job running")
    pid_file = os.path.join(gsat.job_dir(a), "sputnik.pid")
    saved = {n: _read(n) for n in (pid_file, pid_file + ".start")}
    stranger = Stranger(gsat, procs)
    stranger.plant(pid_file)
    try:
        p = gsat.run("gqhold", a)
        assert p.returncode != 0 and "qhold failed" in p.stderr, (p.returncode, p.stderr)
        assert stranger.signals(gsat) == []
        assert gsat.state(a) == "running"
    finally:
        for name, text in saved.items():
            with open(name, "w") as f:
                f.write(text + "\n")


def test_a_stranger_at_a_lost_jobs_pid_is_never_adopted_nor_signalled(gsat, procs):
    gsat.start()
    a = gsat.qsub(gsat.job("long.job", "touch ready\nwhile :; do sleep 0.05; done\n"))
    gsat.wait_for(lambda: os.path.exists(os.path.join(gsat.job_dir(a), "jobtmp", "ready")), what="job running")
    spid = int(gsat.attr(a, "sputnik.pid"))
    jpid = int(gsat.attr(a, "job.pid"))
    assert gsat.stop().returncode == 0  # jobs keep running without a controller
    os.kill(spid, signal.SIGKILL)
    os.killpg(jpid, signal.SIGKILL)
    gsat.wait_for(lambda: _dead(spid) and _group_gone(jpid), what="sputnik and job gone")
    stranger = Stranger(gsat, procs)
    stranger.plant(os.path.join(gsat.job_dir(a), "job.pid"))
    gsat.start()
    assert gsat.wait_state(a, ENDED) == "failed"
    assert gsat.attr(a, "job.reason") == LOST
    assert LOST in gsat.run("gqstat", "-f", "-x", a).stdout
    assert stranger.signals(gsat) == []



def test_a_strangers_group_whose_leader_is_gone_at_a_lost_jobs_pid_is_never_adopted_nor_signalled(gsat, procs):
    """``job.pid`` names the group of a stranger whose leader has exited
    (a member runs on; no new process can take the group's id, so only the
    recorded start time tells it is not the job's).  The job fails; no
    sputnik is started for the group and no signal reaches it."""
    gsat.start()
    a = gsat.qsub(gsat.job("long.job", "touch ready\nwhile :; do sleep 0.05; done\n"))
    gsat.wait_for(lambda: os.path.exists(os.path.join(gsat.job_dir(a), "jobtmp", "ready")), what="job running")
    spid = int(gsat.attr(a, "sputnik.pid"))
    jpid = int(gsat.attr(a, "job.pid"))
    assert gsat.stop().returncode == 0
    os.kill(spid, signal.SIGKILL)
    os.killpg(jpid, signal.SIGKILL)
    gsat.wait_for(lambda: _dead(spid) and _group_gone(jpid), what="sputnik and job gone")
    log = os.path.join(str(gsat.tmp), "orphan.signals")
    ready = os.path.join(str(gsat.tmp), "orphan.ready")
    member = os.path.join(str(gsat.tmp), "orphan.pid")
    leader = subprocess.Popen(["bash", "-c", "(%s) &\necho $! > %s\n" % (STRANGER % {"log": log, "ready": ready}, member)],
                              start_new_session=True, stdin=subprocess.DEVNULL)
    leader.wait()  # reaped: the leader is gone, its group lives on in the member
    gsat.wait_for(lambda: os.path.exists(ready) and _read(member).isdigit(), what="the stranger's member")
    orphan = int(_read(member))
    try:
        assert os.getpgid(orphan) == leader.pid and _dead(leader.pid)
        pid_file = os.path.join(gsat.job_dir(a), "job.pid")
        with open(pid_file + ".start", "w") as f:
            f.write("%d 1\n" % leader.pid)  # a start time that is not the group's leader's
        with open(pid_file, "w") as f:
            f.write("%d\n" % leader.pid)
        gsat.start()
        assert gsat.wait_state(a, ENDED) == "failed"
        assert gsat.attr(a, "job.reason") == LOST
        assert "adopted by sputnik" not in _read(os.path.join(gsat.g, "var", "log", "gsatlc.log"))
        os.kill(orphan, signal.SIGUSR1)
        gsat.wait_for(lambda: "USR1" in _read(log).split(), what="the stranger's USR1 marker")
        assert [s for s in _read(log).split() if s != "USR1"] == []
    finally:
        os.kill(orphan, signal.SIGKILL)


# -- item 3: held means stopped ----------------------------------------------------------

def test_job_that_ignores_term_is_not_held_while_it_runs_and_gqrls_never_runs_a_second_copy(gsat, procs):
    gsat.start(hold_grace=3)
    runs = os.path.join(str(gsat.tmp), "runs")
    a = gsat.qsub(gsat.job("stubborn.job", 'echo run >> "%s"\ntrap "" TERM\necho $$ > me\n'
                           'while :; do sleep 0.05; done\n' % runs))
    b = gsat.qsub(gsat.job("next.job", "exit 0\n"))
    me = os.path.join(gsat.job_dir(a), "jobtmp", "me")
    gsat.wait_for(lambda: os.path.exists(me) and os.path.getsize(me) > 0, what="job A running")
    hold = subprocess.Popen(["gqhold", a], env=gsat.env, cwd=gsat.jobs, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    procs.append(hold)
    first = int(open(me).read())
    checks, released = 0, False
    while hold.poll() is None and not released:
        # Each state is read before the processes are looked at: whatever
        # says "stopped" must already be true of the processes.
        if gsat.state(a) != "running":
            assert _group_gone(first), "marked held while it still runs"
        if gsat.state(b) != "queued":
            assert _group_gone(first), "its slot went to the next job while it still runs"
        # Only while it counts as running: once held, a release would queue
        # it again ahead of the next job, which then waits behind it.
        if gsat.state(a) == "running":
            released = gsat.run("gqrls", a).returncode == 0
            if released:
                assert _group_gone(first), "gqrls accepted while the first copy still runs"
        checks += 1
    out, err = hold.communicate()
    assert hold.returncode == 0, err
    assert checks >= 2
    assert _group_gone(first)
    if not released:
        # (A release that got in first queues A again ahead of B, which
        # then waits behind it: only its second run is checked then.)
        assert gsat.wait_state(b, ENDED) == "finished"
        assert gsat.state(a) == "held"
        assert gsat.run("gqrls", a).returncode == 0
    gsat.wait_for(lambda: os.path.exists(runs) and len(open(runs).read().split()) == 2, what="second run")
    assert gsat.wait_state(a, "running") == "running"


# -- item 4: a lost supervisor is noticed at once --------------------------------------------

def test_kill9_of_a_sputnik_does_not_leave_its_job_running_for_ever(gsat, procs):
    gsat.start()
    gate = os.path.join(str(gsat.tmp), "gate")
    a = gsat.qsub(gsat.job("gated.job", 'touch ready\nwhile [ ! -e "%s" ]; do sleep 0.05; done\nexit 3\n' % gate))
    b = gsat.qsub(gsat.job("next.job", "exit 0\n"))
    gsat.wait_for(lambda: os.path.exists(os.path.join(gsat.job_dir(a), "jobtmp", "ready")), what="job A running")
    wait = subprocess.Popen(["gqwait", a], env=gsat.env, cwd=gsat.jobs, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    procs.append(wait)
    spid = int(gsat.attr(a, "sputnik.pid"))
    jpid = int(gsat.attr(a, "job.pid"))
    os.kill(spid, signal.SIGKILL)
    # Supervised again: a new sputnik adopts the job, which keeps running.
    gsat.wait_for(lambda: gsat.attr(a, "sputnik.pid") not in ("", str(spid)), timeout=10,
                  what="a new sputnik for job A")
    assert not _dead(jpid)
    assert gsat.state(a) == "running" and gsat.state(b) == "queued"
    with open(gate, "w"):
        pass
    assert gsat.wait_state(a, ENDED) == "failed"
    assert gsat.attr(a, "job.exit") == "3"
    out, err = wait.communicate(timeout=30)
    assert wait.returncode == 3, (out, err)
    assert gsat.wait_state(b, ENDED) == "finished"


def test_kill9_of_a_sputnik_whose_job_has_ended_frees_the_slot(gsat, procs):
    gsat.start()
    a = gsat.qsub(gsat.job("long.job", "touch ready\nwhile :; do sleep 0.05; done\n"))
    b = gsat.qsub(gsat.job("next.job", "exit 0\n"))
    gsat.wait_for(lambda: os.path.exists(os.path.join(gsat.job_dir(a), "jobtmp", "ready")), what="job A running")
    wait = subprocess.Popen(["gqwait", a], env=gsat.env, cwd=gsat.jobs, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    procs.append(wait)
    spid = int(gsat.attr(a, "sputnik.pid"))
    jpid = int(gsat.attr(a, "job.pid"))
    # The sputnik cannot see its job end: stopped, then killed.
    os.kill(spid, signal.SIGSTOP)
    os.killpg(jpid, signal.SIGKILL)
    os.kill(spid, signal.SIGKILL)
    assert gsat.wait_state(a, ENDED, timeout=10) == "failed"
    # The controller, subreaper of the lost sputnik's job, took its status.
    assert gsat.attr(a, "job.exit") == str(128 + signal.SIGKILL)
    out, err = wait.communicate(timeout=30)
    assert wait.returncode == 128 + signal.SIGKILL, (out, err)
    assert gsat.wait_state(b, ENDED) == "finished"


# An init that reaps at once: a subreaper above the controller, which logs
# every child it reaps ("PID STATUS"), so the test knows the job's shell is
# gone with its exit value, as after init took it.
REAPER = r'''
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
subprocess.run(["gsatlcd", "--start"], check=True)
open(sys.argv[2], "w").close()
while True:
    try:
        pid, status = os.waitpid(-1, 0)
    except ChildProcessError:
        time.sleep(0.05)
        continue
    with open(sys.argv[1], "a") as f:
        f.write("%d %d\n" % (pid, status))
'''


def test_a_lost_job_whose_shell_ended_fails_once_leaving_what_it_started(gsat, procs):
    """Its sputnik and the controller killed, the job's shell ended and was
    reaped by another process, while a process it started in the background
    runs on in its group: the job ended with its shell, as under a live
    sputnik.  The next controller fails it at once (its exit value is gone),
    starts no adopter for what the shell left, and leaves that running, as
    after any end of a job."""
    reaped = os.path.join(str(gsat.tmp), "reaped")
    ready = os.path.join(str(gsat.tmp), "reaper.ready")
    reaper = subprocess.Popen([sys.executable, "-c", REAPER, reaped, ready], env=gsat.env, cwd=gsat.jobs,
                              start_new_session=True, stdin=subprocess.DEVNULL)
    procs.append(reaper)
    gsat.wait_for(lambda: os.path.exists(ready), what="controller under the reaper")
    a = gsat.qsub(gsat.job("bg.job", "sleep 300 &\necho $! > bg\ntouch ready\n"
                                     "while [ ! -e go ]; do sleep 0.05; done\nexit 0\n"))
    tmp = os.path.join(gsat.job_dir(a), "jobtmp")
    gsat.wait_for(lambda: os.path.exists(os.path.join(tmp, "ready")), what="job running")
    spid, jpid, cpid = int(gsat.attr(a, "sputnik.pid")), int(gsat.attr(a, "job.pid")), gsat.controller_pid()
    background = int(_read(os.path.join(tmp, "bg")))
    os.kill(cpid, signal.SIGKILL)
    gsat.wait_for(lambda: _dead(cpid), what="controller gone")
    os.kill(spid, signal.SIGKILL)
    gsat.wait_for(lambda: ppid(jpid) == reaper.pid, what="the job's shell handed to the reaper")
    with open(os.path.join(tmp, "go"), "w"):
        pass
    gsat.wait_for(lambda: "%d 0" % jpid in _read(reaped).splitlines(), what="the job's shell reaped")
    assert alive(background) and os.getpgid(background) == jpid
    gsat.start()
    assert gsat.wait_state(a, ENDED, timeout=10) == "failed"
    assert gsat.attr(a, "job.reason") == LOST
    log = _read(os.path.join(gsat.g, "var", "log", "gsatlc.log"))
    assert "adopted by sputnik" not in log, log
    assert "processes it started still run in group %d" % jpid in log, log
    assert len(gsat.attr(a, "job.start").split()) == 1
    assert alive(background)

"""Controller crash recovery: no job lost, none run twice (FEATURES.md §6).

The controller is killed with SIGKILL (PID from ``gsatlcPid``) while one
job runs and others wait, and again in the middle of a burst of concurrent
``gqsub`` calls; a new controller started with ``gsatlcd --start`` must end
every job exactly once with its true exit value, and every ``gqsub`` must
have either printed an id (of a job that exists and runs) or failed with an
error, never both and never neither.  ``gsatlcd --stop`` must leave running
jobs running, and the next controller must account for their ends.

"Exactly once" is read from ``job.start``/``job.stop`` (one line per run)
and from a file each job appends to whenever it really runs.
"""

import os
import signal
import subprocess
import time

import pytest

ENDED = ("finished", "failed")
LOST = "supervisor lost, no exit value recorded"


def counted_job(gsat, name, exit_value, gated=False):
    """A job that appends a line to ``runs/NAME`` every time it is run; a
    gated one then waits until the test calls :func:`open_gate`, so the
    test, not the machine's speed, decides when it ends."""
    runs = os.path.join(str(gsat.tmp), "runs")
    os.makedirs(runs, exist_ok=True)
    body = 'echo run >> "%s/%s"\n' % (runs, name)
    if gated:
        body += 'while [ ! -e "%s" ]; do sleep 0.05; done\n' % gate_path(gsat, name)
    body += "exit %d\n" % exit_value
    return gsat.job(name, body)


def gate_path(gsat, name):
    return os.path.join(str(gsat.tmp), "runs", name + ".gate")


def open_gate(gsat, name):
    with open(gate_path(gsat, name), "w"):
        pass


def run_count(gsat, name):
    try:
        with open(os.path.join(str(gsat.tmp), "runs", name)) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


def lines(gsat, job_id, attr):
    return gsat.attr(job_id, attr).split()


def kill9_controller(gsat):
    pid = gsat.controller_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    gsat.wait_for(lambda: not _alive(pid), timeout=10, what="killed controller to vanish")
    return pid


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def all_ids(gsat):
    d = os.path.join(gsat.g, "gschedule", "jobs")
    return sorted(n[:-2] for n in os.listdir(d) if n.endswith(".d") and n[:-2].isdigit())


def assert_ran_once(gsat, job_id, exit_value, name):
    assert gsat.state(job_id) == ("finished" if exit_value == 0 else "failed"), job_id
    assert gsat.attr(job_id, "job.exit") == str(exit_value), job_id
    assert len(lines(gsat, job_id, "job.start")) == 1, (job_id, lines(gsat, job_id, "job.start"))
    assert len(lines(gsat, job_id, "job.stop")) == 1, (job_id, lines(gsat, job_id, "job.stop"))
    assert run_count(gsat, name) == 1, (job_id, name)

    def links():
        return [s for s in ("queued", "running", "held", "finished", "failed")
                if os.path.lexists(os.path.join(gsat.g, "gschedule", s, job_id + ".d"))]

    # job.state is written before the link moves: give the link its moment.
    deadline = time.monotonic() + 10
    while links() != [gsat.state(job_id)] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert links() == [gsat.state(job_id)], (job_id, links())


@pytest.mark.slow
@pytest.mark.parametrize("restart", ["after_end", "before_end"])
def test_kill9_with_one_running_and_five_queued(gsat, restart):
    gsat.start()
    exits = [7, 0, 3, 4, 0, 6]
    names = ["j%d.job" % i for i in range(6)]
    files = [counted_job(gsat, names[0], exits[0], gated=True)]
    files += [counted_job(gsat, n, e) for n, e in zip(names[1:], exits[1:])]
    ids = gsat.qsub(*files)
    assert len(ids) == 6
    # job.start is written before the job is spawned, job.pid after it.
    gsat.wait_for(lambda: gsat.attr(ids[0], "job.pid") != "", what="first job to start")
    assert gsat.state(ids[0]) == "running"
    job_pid = int(gsat.attr(ids[0], "job.pid"))
    kill9_controller(gsat)
    assert _alive(job_pid), "the job died with its controller"
    if restart == "after_end":
        open_gate(gsat, names[0])
        gsat.wait_for(lambda: gsat.attr(ids[0], "job.stop") != "", timeout=30, what="job to end")
        # Nobody started the queued jobs meanwhile.
        assert [gsat.state(j) for j in ids[1:]] == ["queued"] * 5
        assert all(run_count(gsat, n) == 0 for n in names[1:])
        gsat.start()
    else:
        gsat.start()
        assert gsat.attr(ids[0], "job.stop") == ""
        open_gate(gsat, names[0])
    for job_id in ids:
        gsat.wait_state(job_id, ENDED, timeout=60)
    for job_id, name, value in zip(ids, names, exits):
        assert_ran_once(gsat, job_id, value, name)
    # fifo order survived: each job began after its predecessor stopped.
    for a, b in zip(ids, ids[1:]):
        assert int(lines(gsat, b, "job.start")[0]) >= int(lines(gsat, a, "job.stop")[0])
    # A further restart does not run anything again.
    gsat.stop()
    gsat.start()
    gsat.run("gqstat", check=True)
    time.sleep(0.5)
    for job_id, name, value in zip(ids, names, exits):
        assert_ran_once(gsat, job_id, value, name)


@pytest.mark.slow
def test_stop_leaves_running_job_running(gsat):
    gsat.start()
    first = counted_job(gsat, "long.job", 5, gated=True)
    second = counted_job(gsat, "next.job", 0)
    a, b = gsat.qsub(first, second)
    gsat.wait_for(lambda: gsat.attr(a, "job.pid") != "", what="job pid")
    job_pid = int(gsat.attr(a, "job.pid"))
    assert gsat.stop().returncode == 0
    assert gsat.controller_pid() is None
    assert _alive(job_pid), "gsatlcd --stop killed a running job"
    open_gate(gsat, "long.job")
    gsat.wait_for(lambda: gsat.attr(a, "job.stop") != "", timeout=30, what="job to end")
    # Its end is recorded, but only a controller changes states.
    assert gsat.attr(a, "job.exit") == "5"
    assert gsat.state(a) == "running"
    assert gsat.state(b) == "queued" and run_count(gsat, "next.job") == 0
    gsat.start()
    assert gsat.wait_state(a, ENDED, timeout=60) == "failed"
    assert gsat.wait_state(b, ENDED, timeout=60) == "finished"
    assert_ran_once(gsat, a, 5, "long.job")
    assert_ran_once(gsat, b, 0, "next.job")


@pytest.mark.slow
def test_stop_then_restart_while_job_still_runs(gsat):
    gsat.start()
    a = gsat.qsub(counted_job(gsat, "long.job", 9, gated=True))
    gsat.wait_for(lambda: gsat.attr(a, "job.pid") != "", what="job pid")
    job_pid = int(gsat.attr(a, "job.pid"))
    assert gsat.stop().returncode == 0
    assert _alive(job_pid)
    gsat.start()
    assert gsat.state(a) == "running"
    assert gsat.attr(a, "job.stop") == ""
    open_gate(gsat, "long.job")
    assert gsat.wait_state(a, ENDED, timeout=60) == "failed"
    assert_ran_once(gsat, a, 9, "long.job")


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_ids", [1, 5])
def test_kill9_during_submission_burst(gsat, kill_after_ids):
    gsat.start()
    count = 20
    names = ["b%02d.job" % i for i in range(count)]
    files = [counted_job(gsat, n, i % 7) for i, n in enumerate(names)]
    procs = []
    try:
        for f in files:
            procs.append(subprocess.Popen(
                ["gqsub", f], env=gsat.env, cwd=gsat.jobs, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ))
        counter = os.path.join(gsat.g, "gschedule", "nextJobId")

        def handed_out():
            try:
                with open(counter) as f:
                    text = f.read().strip()
            except OSError:
                return 0
            return int(text) if text.isdigit() else 0

        gsat.wait_for(lambda: handed_out() >= kill_after_ids, timeout=60, what="first submissions")
        kill9_controller(gsat)
        results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    reported = {}
    failed = 0
    for name, (out, err, code) in zip(names, results):
        if code == 0:
            words = out.split()
            assert len(words) == 1 and words[0].isdigit(), (name, out, err)
            assert words[0] not in reported, "two submissions got id %s" % words[0]
            reported[words[0]] = name
        else:
            assert out == "", "gqsub of %s failed (%d) but printed %r" % (name, code, out)
            assert err.strip() != "", "gqsub of %s failed (%d) silently" % (name, code)
            failed += 1
    assert len(reported) + failed == count

    # Every job in the store was reported to its submitter, and is the job
    # that submitter sent.
    assert all_ids(gsat) == sorted(reported), (all_ids(gsat), sorted(reported))
    for job_id, name in reported.items():
        assert gsat.attr(job_id, "job.name") == name

    gsat.start()
    for job_id in reported:
        gsat.wait_state(job_id, ENDED, timeout=120)
    for job_id, name in reported.items():
        assert_ran_once(gsat, job_id, names.index(name) % 7, name)
    # Nothing that failed to submit ran anyway, and no new job appeared.
    for name in set(names) - set(reported.values()):
        assert run_count(gsat, name) == 0, name
    assert all_ids(gsat) == sorted(reported)


@pytest.mark.slow
def test_job_marked_running_but_never_launched(gsat):
    """The crash point inside start_job: job.execHost and job.state=running
    are written, the sputnik is not launched yet.  The files a SIGKILL there
    leaves behind are written by hand (no test can stop the controller at
    that instruction), then a new controller must run the job once."""
    gsat.start()
    blocker, victim = gsat.qsub(counted_job(gsat, "blocker.job", 0, gated=True),
                                counted_job(gsat, "victim.job", 3))
    gsat.wait_state(blocker, "running")
    host = gsat.host()
    assert host
    assert gsat.stop().returncode == 0
    assert gsat.state(victim) == "queued"
    jdir = gsat.job_dir(victim)
    with open(os.path.join(jdir, "job.execHost"), "w") as f:
        f.write(host + "\n")
    with open(os.path.join(jdir, "job.state"), "w") as f:
        f.write("running\n")
    open_gate(gsat, "blocker.job")
    gsat.wait_for(lambda: gsat.attr(blocker, "job.stop") != "", what="blocker to end")
    gsat.start()
    gsat.wait_state(blocker, ENDED, timeout=60)
    gsat.wait_state(victim, ENDED, timeout=60)
    assert gsat.attr(victim, "job.reason") != LOST
    assert_ran_once(gsat, victim, 3, "victim.job")


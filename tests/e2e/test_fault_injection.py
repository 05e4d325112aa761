"""Fault injection (issue 11): ``kill -9`` of the controller, of a sputnik and
of sigfwd at random moments during bursts of submissions and job ends.

Every job appends its id to one shared file when it runs and ends with an
exit value fixed by its name.  At the end: every job ended exactly once
(one line per id in the shared file, one start, one stop) with its value;
every gqsub that printed an id has its job, and no gqsub that failed has
one (jobs are told apart by their unique names).  The controller is
started again with ``gsatlcd --start`` after each kill.

A sputnik is killed only while the controller that started it lives (its
parent): then the job's end is still observed (the controller is the
subreaper of the dead sputnik's job).  A sputnik lost while no controller
that could reap its job exists leaves an exit value nobody can know; that
job fails with a reason, which is tested in test_process_faults.

A failure prints its seed first; ``GSAT_FAULT_SEED=N`` replays its choices.
"""

import os
import random
import signal
import subprocess
import time

import pytest

from .procfs import alive as _alive, ppid as _ppid, read as _read

ROUNDS = 30
BURST = 6
BUDGET = 80  # seconds for the rounds; with the end, about two minutes at most
ENDED = ("finished", "failed")


def _expected(name):
    return int(name.split("_")[-1].split(".")[0]) % 4


def _restart(gsat):
    deadline = time.monotonic() + 30
    while True:
        p = gsat.run("gsatlcd", "--start")
        if p.returncode == 0:
            return
        assert time.monotonic() < deadline, "gsatlcd --start keeps failing: %s" % p.stderr
        assert "Traceback" not in p.stderr, p.stderr


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:  # it ended by itself meanwhile
        return False


def _kill_one(gsat, rng, kills):
    kind = rng.choice(("controller", "sputnik", "sigfwd"))
    ctl = gsat.controller_pid()
    if kind == "sputnik" and ctl:
        jobs = os.path.join(gsat.g, "gschedule", "jobs")
        ours = []
        for d in os.listdir(jobs):
            spid = _read(os.path.join(jobs, d, "sputnik.pid"))
            if spid.isdigit() and _ppid(int(spid)) == ctl and _alive(int(spid)):
                ours.append(int(spid))
        if ours and _kill(rng.choice(ours)):
            kills.append("sputnik")
        return
    if kind == "sigfwd":
        run = os.path.join(gsat.g, "var", "run")
        for host in os.listdir(run) if os.path.isdir(run) else ():
            pid = _read(os.path.join(run, host, "sigfwd.pid"))
            if pid.isdigit() and _alive(int(pid)) and _kill(int(pid)):
                kills.append("sigfwd")
        return
    if ctl and _alive(ctl) and _kill(ctl):
        deadline = time.monotonic() + 10
        while _alive(ctl) and time.monotonic() < deadline:
            time.sleep(0.01)
        kills.append("controller")
        _restart(gsat)


@pytest.mark.slow
def test_kill9_of_any_daemon_at_random_moments_loses_and_repeats_no_job(gsat):
    seed = int(os.environ.get("GSAT_FAULT_SEED", "0")) or random.randrange(1 << 30)
    rng = random.Random(seed)
    gsat.start(slots=3)
    shared = os.path.join(str(gsat.tmp), "ran")
    submitted = {}  # name -> id printed by gqsub, or None when it failed
    kills = []
    started = time.monotonic()
    for r in range(ROUNDS):
        if time.monotonic() - started > BUDGET:
            break
        names = []
        for i in range(BURST):
            name = "j%d_%d.job" % (r, rng.randrange(1000) * 10 + i)
            body = 'echo "$GSAT_O_JOBID" >> "%s"\nsleep %.2f\nexit %d\n' % (
                shared, rng.uniform(0, 0.4), _expected(name))
            names.append((name, gsat.job(name, body)))
        clients = [(name, subprocess.Popen(["gqsub", path], env=gsat.env, cwd=gsat.jobs,
                                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True))
                   for name, path in names]
        time.sleep(rng.uniform(0, 0.4))  # a random moment of the burst
        _kill_one(gsat, rng, kills)
        for name, p in clients:
            out, err = p.communicate(timeout=120)
            assert "Traceback" not in err, (seed, err)
            text = out.strip()
            if p.returncode == 0:
                assert text.isdigit(), (seed, name, out, err)
                submitted[name] = text
            else:
                assert text == "", (seed, name, out, err)
                submitted[name] = None
        if gsat.controller_pid() is None or not _alive(gsat.controller_pid()):
            _restart(gsat)

    jobs_dir = os.path.join(gsat.g, "gschedule", "jobs")

    def all_ended():
        ids = [d[:-2] for d in os.listdir(jobs_dir) if d.endswith(".d") and d[:-2].isdigit()]
        return all(gsat.state(i) in ENDED for i in ids)

    deadline = time.monotonic() + 60
    while not all_ended():
        assert time.monotonic() < deadline, (seed, "jobs did not end", kills)
        if not _alive(gsat.controller_pid() or 0):
            _restart(gsat)
        time.sleep(0.1)

    by_name = {}
    for d in os.listdir(jobs_dir):
        if d.endswith(".d") and d[:-2].isdigit():
            by_name[gsat.attr(d[:-2], "job.name")] = d[:-2]
    with open(shared) as f:
        ran = f.read().split()
    for name, job_id in submitted.items():
        if job_id is None:
            assert name not in by_name, (seed, "gqsub failed but its job exists", name, kills)
            continue
        assert by_name.get(name) == job_id, (seed, "gqsub printed an id without its job", name, kills)
        value = _expected(name)
        assert gsat.attr(job_id, "job.exit") == str(value), (seed, job_id, gsat.attr(job_id, "job.reason"), kills)
        assert gsat.state(job_id) == ("finished" if value == 0 else "failed"), (seed, job_id)
        assert ran.count(str(int(job_id))) + ran.count(job_id) == 1, (seed, job_id, "ran %d times" % ran.count(job_id))
        assert len(gsat.attr(job_id, "job.start").split()) == 1, (seed, job_id)
        assert len(gsat.attr(job_id, "job.stop").split()) == 1, (seed, job_id)
    assert set(by_name) <= set(submitted), (seed, set(by_name) - set(submitted))
    assert kills, seed

"""A job's sputnik that never answers does not freeze the controller (issue 10).

The sputnik of a running job is made unreachable the way a lost host makes
it: ``sputnik.pid``/``job.execHost`` name a box on another host, still on the
shared file system, that nobody reads (a stopped sputnik would not do: the
protocol's SIGCONT wake-up resumes it).  While ``gqhold`` waits for that
sputnik, ``gqsub``, ``gqstat`` and ``sendcmd -c 'ALIVE?'`` answer within a
second and ``gsatlcPid`` stays young; ``gqhold`` fails when the deadline
(``sputnik_timeout``) passes, and its HOLD is taken back unread.
"""

import os
import subprocess
import time

DEADLINE = 6
UNREACHABLE = "unreachable.invalid"


def _messages(box):
    return [n for n in os.listdir(box) if n.startswith("message")]


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def _timed(gsat, *argv):
    start = time.monotonic()
    p = gsat.run(*argv, timeout=30)
    return p, time.monotonic() - start


def test_controller_serves_while_a_hold_waits_for_a_silent_sputnik(gsat, procs):
    gsat.start(sputnik_timeout=DEADLINE)
    ready = os.path.join(str(gsat.tmp), "ready")
    a = gsat.qsub(gsat.job("long.job", 'touch "%s"\nsleep 120\n' % ready))
    gsat.wait_for(lambda: os.path.exists(ready) and gsat.attr(a, "sputnik.pid"), what="job running")
    other = gsat.job("other.job", "exit 0\n")

    # The stand-in's PID is one of ours, so the test's clean-up (by the PIDs
    # in the job directory) can never hit a stranger's process.
    stand_in = subprocess.Popen(["sleep", "120"])
    procs.append(stand_in)
    box = os.path.join(gsat.g, "mboxes", UNREACHABLE, "%d.inbox" % stand_in.pid)
    os.makedirs(box)
    saved = {name: gsat.attr(a, name) for name in ("sputnik.pid", "job.execHost")}
    _write(os.path.join(gsat.job_dir(a), "sputnik.pid"), "%d\n" % stand_in.pid)
    _write(os.path.join(gsat.job_dir(a), "job.execHost"), UNREACHABLE + "\n")
    try:
        start = time.monotonic()
        hold = subprocess.Popen(["gqhold", a], env=gsat.env, cwd=gsat.jobs, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(hold)
        gsat.wait_for(lambda: _messages(box), timeout=10, what="HOLD in the silent sputnik's box")

        rounds = 0
        while hold.poll() is None and time.monotonic() - start < DEADLINE - 1.5:
            p, took = _timed(gsat, "gqsub", other)
            assert p.returncode == 0 and p.stdout.strip().isdigit(), (p.stdout, p.stderr)
            assert took < 1, "gqsub took %.2f s" % took
            p, took = _timed(gsat, "gqstat")
            assert p.returncode == 0 and a in p.stdout, p.stderr
            assert took < 1, "gqstat took %.2f s" % took
            p, took = _timed(gsat, "sendcmd", "-c", "ALIVE?", "-m", gsat.controller_box())
            assert (p.returncode, p.stdout.strip()) == (0, "YES"), p.stderr
            assert took < 1, "sendcmd took %.2f s" % took
            age = time.time() - os.stat(os.path.join(gsat.g, "gsatlcPid")).st_mtime
            assert age < 3, "gsatlcPid is %.1f s old" % age
            rounds += 1
        assert rounds >= 2
        assert hold.poll() is None, "gqhold was answered before the deadline: %r" % (hold.communicate(),)

        out, err = hold.communicate(timeout=DEADLINE + 30)
        took = time.monotonic() - start
        assert hold.returncode != 0 and "qhold failed" in err, (hold.returncode, out, err)
        assert DEADLINE - 0.5 <= took < DEADLINE + 5, took
        assert _messages(box) == [], "the unanswered HOLD was not taken back"
        assert gsat.state(a) == "running"
    finally:
        for name, value in saved.items():
            _write(os.path.join(gsat.job_dir(a), name), value + "\n")

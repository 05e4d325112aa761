"""A client that gives up reports what really happened (issue 10, item 3).

The controller is a stand-in process that publishes ``gsatlcPid`` (kept
young) and its box, so the clients find it, but never reads its box (a
stopped gsatlc would not do: the clients' SIGCONT wake-up resumes it), or
reads and never answers, or reads, creates the job late and never answers.
With ``GSAT_ANSWER_TIMEOUT=1``:

* a request withdrawn unread is reported as not submitted / not done, with
  exit 69, and leaves nothing behind: no job, no message in the box;
* a request that was read but not answered is reported as received, never
  as failed;
* a job the controller created after the client's time-out is reported by
  its id.
"""

import os
import subprocess
import sys
import textwrap

import pytest

STAND_IN = textwrap.dedent("""
    import os, sys, time
    g, host, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    box = os.path.join(g, "mboxes", host, "%d.inbox" % os.getpid())
    os.makedirs(box, mode=0o700, exist_ok=True)
    pid_file = os.path.join(g, "gsatlcPid")
    with open(os.path.join(g, "gsatlcHostName"), "w") as f:
        f.write(host + "\\n")
    with open(pid_file, "w") as f:
        f.write("%d\\n" % os.getpid())
    print("ready", flush=True)
    while True:
        os.utime(pid_file)  # a fresh ctime: "running" for the clients
        for name in sorted(os.listdir(box)) if mode != "silent" else ():
            if not name.startswith("message"):
                continue
            path = os.path.join(box, name)
            with open(path) as f:
                text = f.read().strip()
            os.unlink(path)
            if mode == "late" and text.startswith("QSUB "):
                time.sleep(1.5)
                jobs = os.path.join(g, "gschedule", "jobs")
                job = os.path.join(jobs, "00042.d")
                os.makedirs(job)
                with open(os.path.join(job, "job.submitBox"), "w") as f:
                    f.write(text.rsplit(";", 1)[1] + "\\n")
        time.sleep(0.2)
""")


def stand_in(gsat, procs, mode):
    """Replace the (stopped) controller by a stand-in; returns its box."""
    host = gsat.stopped_host
    # Called gsatlc (its argv[0]), as a controller whose gsatlcPid has no
    # start-time sidecar must be, or the clients take it for a stranger.
    p = subprocess.Popen(["gsatlc", "-c", STAND_IN, gsat.g, host, mode], executable=sys.executable,
                         stdout=subprocess.PIPE, text=True)
    procs.append(p)
    assert p.stdout.readline().strip() == "ready"
    return os.path.join(gsat.g, "mboxes", host, "%d.inbox" % p.pid)


def messages(box):
    return [n for n in os.listdir(box) if "message" in n]


def job_dirs(gsat):
    return sorted(n for n in os.listdir(os.path.join(gsat.g, "gschedule", "jobs")))


@pytest.fixture
def stopped(gsat):
    """A store with one held and one running job; the controller stopped."""
    gsat.start(answer_timeout=1)
    gate = os.path.join(str(gsat.tmp), "go")
    running, held = gsat.qsub(
        gsat.job("run.job", 'while [ ! -e "%s" ]; do sleep 0.05; done\n' % gate),
        gsat.job("held.job", "true\n"))
    gsat.wait_state(running, "running")
    gsat.run("gqhold", held, check=True)
    assert gsat.state(held) == "held"
    gsat.stopped_host = gsat.host()
    assert gsat.stop().returncode == 0
    yield gsat, running, held
    with open(gate, "w"):
        pass


def gqsub_unanswered(gsat, procs, mode):
    """gqsub one job against a stand-in; it must fail with 69, print no id
    and leave no message and no job behind."""
    box = stand_in(gsat, procs, mode)
    before = job_dirs(gsat)
    job = gsat.job("late.job", "true\n")
    p = gsat.run("gqsub", job)
    assert (p.returncode, p.stdout) == (69, ""), p.stderr
    assert messages(box) == []
    assert job_dirs(gsat) == before
    return p, job


def test_gqsub_withdrawn_is_not_submitted(stopped, procs):
    gsat, _, _ = stopped
    p, job = gqsub_unanswered(gsat, procs, "silent")
    assert p.stderr.count("\n") == 1
    assert "not submitted" in p.stderr and job in p.stderr, p.stderr
    assert "qsub failed" not in p.stderr


def test_gqsub_of_several_withdrawn(stopped, procs):
    gsat, _, _ = stopped
    box = stand_in(gsat, procs, "silent")
    jobs = [gsat.job("j%d.job" % i, "true\n") for i in range(3)]
    p = gsat.run("gqsub", *jobs)
    assert p.returncode == 69 and p.stdout == ""
    assert [line.endswith("not submitted.") for line in p.stderr.splitlines()] == [True] * 3
    assert messages(box) == []


@pytest.mark.parametrize("argv, verb", [
    (["gqhold", "HELD"], "qhold"), (["gqrls", "HELD"], "qrls"), (["gqdel", "HELD"], "qdel"),
    (["gqsig", "-s", "USR1", "RUNNING"], "qsig"), (["gsatctl", "-d", "HELD"], "qdel"),
])
def test_job_request_withdrawn_is_not_done(stopped, procs, argv, verb):
    gsat, running, held = stopped
    box = stand_in(gsat, procs, "silent")
    argv = [{"HELD": held, "RUNNING": running}.get(a, a) for a in argv]
    p = gsat.run(*argv)
    assert p.returncode == 69, p.stderr
    assert p.stderr.startswith(argv[0] + ": ")
    assert p.stderr.endswith("%s not done.\n" % verb), p.stderr
    assert messages(box) == []
    assert (gsat.state(held), gsat.state(running)) == ("held", "running")


def test_read_but_unanswered_is_reported_as_received(stopped, procs):
    gsat, _, held = stopped
    p, job = gqsub_unanswered(gsat, procs, "consume")
    assert "gsatlc received %s, which may still be submitted" % job in p.stderr, p.stderr
    assert "qsub failed" not in p.stderr and "not submitted" not in p.stderr
    p = gsat.run("gqhold", held)
    assert p.returncode == 69
    assert "received the qhold request, which may still take effect" in p.stderr, p.stderr


def test_job_created_after_the_time_out_is_reported_by_its_id(stopped, procs):
    gsat, _, _ = stopped
    stand_in(gsat, procs, "late")
    p = gsat.run("gqsub", gsat.job("slow.job", "true\n"))
    assert (p.returncode, p.stdout, p.stderr) == (0, "00042\n", "")

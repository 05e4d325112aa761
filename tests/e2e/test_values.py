"""Issue 11 (values), with the real daemons: each test is named after what
broke.

* ``gqsub -a @99999999999999999999`` was accepted and the controller died on
  every start; a hand-written unusable value in a job must fail that job.
* ``slots = 0`` was accepted; every setting is checked, naming the key.
* ``trigger --wait E <70,000 bytes>`` hung for ever.
* a 14-digit id was handed out; parallel ``gsatlcd --start`` failed; gqsub
  said ``qsub failed!`` after a kill -9 of the controller; Ctrl-C printed
  tracebacks; ``-o DIR`` did not put the file into DIR; a newline in
  trigger arguments made two events.
"""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import BIN, INSTALLED


def _ok(gsat, name="ok.sh", body="exit 0\n"):
    return gsat.job(name, body)


def test_start_time_beyond_year_9999_is_refused_by_gqsub(gsat):
    gsat.start()
    for value in ("@99999999999999999999", "2026-01-01T00:00+99:00"):
        p = gsat.run("gqsub", "-a", value, _ok(gsat))
        assert p.returncode == 1, p
        assert "out of range" in p.stderr and "Traceback" not in p.stderr
        assert p.stdout == ""
    assert os.listdir(os.path.join(gsat.g, "gschedule", "jobs")) == []
    # And the controller, sent the value directly, refuses it too.
    p = gsat.run("sendcmd", "-c", "QSUB -a=@99999999999999999999 -- " + _ok(gsat), "-m", gsat.controller_box(),
                 "--timeout", "20")
    assert "qsub failed" in p.stdout, p
    gsat.qsub(_ok(gsat))  # still serving


def test_unusable_stored_value_fails_its_job_and_the_controller_carries_on(gsat):
    gsat.start()
    bad = gsat.qsub(gsat.job("bad.sh", "exit 0\n"))
    gsat.wait_state(bad, ("finished",))
    gsat.stop()
    # Written by hand (or by an old or classic tool) while no controller ran:
    for name, value in (("job.startAfter", "99999999999999999999"), ("job.state", "queued")):
        with open(os.path.join(gsat.job_dir(bad), name), "w") as f:
            f.write(value + "\n")
    p = gsat.run("gsatlcd", "--start")
    assert p.returncode == 0, p
    gsat.wait_state(bad, ("failed",))
    assert "job.startAfter" in gsat.attr(bad, "job.reason")
    good = gsat.qsub(_ok(gsat))
    gsat.wait_state(good, ("finished",))
    # The reason is an extension line: gqstat -f alone prints the classic
    # eight lines (issue 12), -x adds the rest.
    p = gsat.run("gqstat", "-f", "-x", bad)
    assert p.returncode == 0 and 'job.reason="unusable start condition' in p.stdout
    p = gsat.run("gqstat", "--json")
    assert p.returncode == 0 and "Traceback" not in p.stderr
    assert {r["id"]: r["start_after_iso"] for r in json.loads(p.stdout)}[bad] is None


def test_slots_0_is_refused_naming_the_key(gsat):
    gsat.env["GSAT_SLOTS"] = "0"
    p = gsat.run("gsatlcd", "--start")
    assert p.returncode == 70 and "configuration: slots: must be a whole number >= 1" in p.stderr, p
    p = gsat.run("gsatlc")
    assert p.returncode == 70 and "configuration: slots:" in p.stderr, p
    assert not os.path.exists(os.path.join(gsat.g, "gsatlcPid"))
    del gsat.env["GSAT_SLOTS"]
    gsat.start()
    gsat.env["GSAT_ANSWER_TIMEOUT"] = "0"
    p = gsat.run("gqsub", _ok(gsat))
    assert p.returncode == 70 and "gqsub: configuration: answer_timeout:" in p.stderr, p


def test_trigger_larger_than_a_message_is_refused_not_hung(gsat):
    gsat.start()
    out = os.path.join(gsat.jobs, "trigger.out")
    job = gsat.qsub(gsat.job("big.sh", (
        "trigger --wait E \"$(head -c 70000 /dev/zero | tr '\\0' a)\" 2> %s.err\n"
        "echo $? > %s\n") % (out, out)))
    gsat.wait_state(job, ("finished", "failed"), timeout=60)
    with open(out) as f:
        assert f.read().strip() == "64"
    with open(out + ".err") as f:
        err = f.read()
    assert "larger than max_message_size" in err and "Traceback" not in err


def test_newline_in_trigger_arguments_is_one_event(gsat):
    gsat.start()
    job = gsat.qsub(gsat.job("nl.sh", "trigger E \"$(printf 'a\\nb')\" && trigger F x\n"))
    gsat.wait_state(job, ("finished",))
    lines = gsat.attr(job, "job.events").splitlines()
    assert len(lines) == 2 and lines[0].endswith(" E a\\nb"), lines
    assert 'job.events="2"' in gsat.run("gqstat", "-f", "-x", job).stdout


def test_no_14_digit_id_is_handed_out(gsat):
    gsat.start()
    with open(os.path.join(gsat.g, "gschedule", "nextJobId"), "w") as f:
        f.write("999999999999\n")
    last = gsat.qsub(_ok(gsat))
    assert last == "999999999999"
    assert 'job.id="%s"' % last in gsat.run("gqstat", "-f", last).stdout
    p = gsat.run("gqsub", _ok(gsat))
    assert p.returncode == 1 and "qsub failed!" in p.stderr and p.stdout == ""
    with open(os.path.join(gsat.g, "var", "log", "gsatlc.log")) as f:
        assert "job ids exhausted" in f.read()
    assert sorted(os.listdir(os.path.join(gsat.g, "gschedule", "jobs"))) == [last + ".d"]


def test_parallel_gsatlcd_start_all_return_0(gsat):
    procs = [subprocess.Popen(["gsatlcd", "--start"], env=gsat.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [r[0] for r in results] == [0, 0, 0, 0], results
    assert gsat.run("gsatlcd", "--status").returncode == 0
    gsat.qsub(_ok(gsat))


def test_gqsub_right_after_kill_9_of_the_controller_says_not_running(gsat):
    gsat.start()
    pid = gsat.controller_pid()
    os.kill(pid, signal.SIGKILL)
    gsat.wait_for(lambda: not os.path.exists("/proc/%d" % pid) or _zombie(pid), what="controller gone")
    p = gsat.run("gqsub", _ok(gsat))
    assert p.returncode == 69 and "gsatlc is not running" in p.stderr, p


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


def test_output_into_a_directory_as_pbs_does(gsat):
    gsat.start()
    out_dir = os.path.join(gsat.jobs, "out")
    os.mkdir(out_dir)
    job = gsat.run("gqsub", "-N", "hello", "-o", out_dir, "-e", out_dir,
                   gsat.job("o.sh", "echo out; echo err >&2\n"), check=True).stdout.strip()
    gsat.wait_state(job, ("finished",))
    gsat.wait_for(lambda: len(os.listdir(out_dir)) == 2, what="both copies")
    with open(os.path.join(out_dir, "hello.o" + job)) as f:
        assert f.read() == "out\n"
    with open(os.path.join(out_dir, "hello.e" + job)) as f:
        assert f.read() == "err\n"


@pytest.mark.skipif(INSTALLED, reason="the checkout's launchers start Python with SIGINT ignored")
def test_ctrl_c_at_any_moment_prints_no_traceback(gsat):
    gsat.start()
    job = gsat.qsub(gsat.job("long.sh", "sleep 60\n"))
    gsat.wait_state(job, ("running",))
    commands = [
        ["gqstat"], ["gqstat", "--json"], ["gqsub", _ok(gsat)], ["gqwait", job],
        ["gqhold", "99999"], ["gqsig", "USR1", "99999"], ["trigger", "--job", job, "E"],
        ["gsatlcd", "--status"],
    ]
    env = dict(gsat.env)
    for argv in commands:
        for step in range(25):
            p = subprocess.Popen([os.path.join(BIN, argv[0])] + argv[1:], env=env, cwd=gsat.jobs,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(step * 0.006)
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=60)
            assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, (argv, step * 0.006, err)
            assert p.returncode in (0, 1, 64, 69, 130, -signal.SIGINT), (argv, p.returncode, err)

"""Our clients against a controller that speaks only the classic protocol.

The controller is a stand-in in shell tools
(``classic_client/classic_daemon.sh``) that answers as the classic gsatlc
answers: ``QSUB`` takes everything after ``QSUB `` as the job path, and
every verb it does not know gets ``UNKNOWN COMMAND``.  Our gqsub must find
out that it cannot carry options before sending any (refuse, queue
nothing), and plain ``gqsub FILE...`` must still go out in the classic form.
The same stand-in plays a classic sputnik for ``trigger``.
``test_classic_gsatlc.py`` does the same against the real classic gsatlc
when a classic checkout is given.
"""

import os
import subprocess

import pytest
from e2e.test_gqstat_golden import build_store

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSIC_DAEMON = os.path.join(HERE, "classic_client", "classic_daemon.sh")
HOST = "classichost"


class Stand:
    def __init__(self, gsat, role):
        self.log = os.path.join(gsat.jobs, role + ".log")
        program = CLASSIC_DAEMON
        if role == "controller":
            # Called gsatlc, as the classic controller is: its gsatlcPid has
            # no start-time sidecar, so the process must bear that name.
            program = os.path.join(gsat.jobs, "gsatlc")
            if not os.path.lexists(program):
                os.symlink(CLASSIC_DAEMON, program)
        self.proc = subprocess.Popen([program, role, gsat.g, HOST, self.log], env=gsat.env)
        self.box = os.path.join(gsat.g, "mboxes", HOST, "%d.inbox" % self.proc.pid)
        gsat.wait_for(lambda: os.path.isdir(self.box) and (
            role != "controller" or os.path.exists(os.path.join(gsat.g, "gsatlcPid"))), what="the stand-in's box")

    def messages(self):
        try:
            with open(self.log) as f:
                return [line.split(";")[0] for line in f.read().splitlines()]
        except FileNotFoundError:
            return []

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def classic(gsat):
    gsat.env["GSAT_HOSTNAME"] = HOST
    os.makedirs(os.path.join(gsat.g, "mboxes", HOST), mode=0o700)
    stand = Stand(gsat, "controller")
    try:
        yield stand
    finally:
        stand.stop()


@pytest.mark.parametrize("option", [["-N", "myname"], ["-a", "2030-01-01T00:00"], ["-o", "out.txt"],
                                    ["-m", "e"], ["-T", "default"]])
def test_gqsub_options_are_refused_and_nothing_is_sent(gsat, classic, option):
    job = gsat.job("ok.sh", "echo hi\n")
    p = gsat.run("gqsub", *(option + [job]))
    assert p.returncode == 1
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert "does not understand gqsub's option %s; nothing submitted" % option[0] in lines[0]
    assert "PID %d on %s, a classic one" % (classic.proc.pid, HOST) in lines[0]
    # No capabilities file names it, so it was asked, and answered as the
    # classic gsatlc answers; no QSUB was ever sent.
    assert classic.messages() == ["CAPABILITIES?"]


def test_plain_gqsub_goes_out_in_the_classic_form(gsat, classic):
    a, b = gsat.job("a.sh", "echo a\n"), gsat.job("b.sh", "echo b\n")
    p = gsat.run("gqsub", a, "b.sh")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "00000\n00001\n"
    assert p.stderr == ""
    # Not even a capabilities question: plain use costs what it cost before.
    assert classic.messages() == ["QSUB " + a, "QSUB " + b]


def test_script_directives_with_a_classic_controller(gsat, classic):
    plain = gsat.job("d.sh", "#GSAT -N named\n#GSAT -o out.txt\necho hi\n")
    p = gsat.run("gqsub", plain)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "00000\n"
    assert "'#GSAT -N named' ignored: the running gsatlc is a classic one" in p.stderr
    assert classic.messages() == ["CAPABILITIES?", "QSUB " + plain]
    # A start condition it would ignore would start the job at once.
    later = gsat.job("later.sh", "#GSAT -a 2030-01-01T00:00\necho hi\n")
    p = gsat.run("gqsub", later)
    assert p.returncode == 1 and p.stdout == ""
    assert "does not understand '#GSAT -a" in p.stderr and "nothing submitted" in p.stderr
    assert "QSUB " + later not in classic.messages()


def test_a_stale_capabilities_file_does_not_count(gsat, classic):
    with open(os.path.join(gsat.g, "gsatlcCapabilities"), "w") as f:
        f.write("%d %s QSUB-OPTIONS QWAIT\n" % (classic.proc.pid + 1, HOST))
    p = gsat.run("gqsub", "-N", "x", gsat.job("ok.sh", "true\n"))
    assert p.returncode == 1 and "a classic one" in p.stderr
    assert not [m for m in classic.messages() if m.startswith("QSUB")]


def test_gqwait_says_the_classic_controller_cannot_wait(gsat, classic):
    build_store(gsat.home)  # job 00002 is running
    p = gsat.run("gqwait", "2", timeout=30)
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1
    assert "a classic one) does not understand gqwait's request (QWAIT)" in p.stderr
    # Nothing was registered, so nothing is withdrawn either.
    assert classic.messages() == ["QWAIT 00002 %s %s" % (classic.messages()[0].split()[2], HOST)]


def test_trigger_says_the_classic_sputnik_runs_nothing(gsat, classic):
    build_store(gsat.home)
    sputnik = Stand(gsat, "sputnik")
    try:
        jdir = os.path.join(gsat.g, "gschedule", "jobs", "00002.d")
        for name, value in (("sputnik.pid", str(sputnik.proc.pid)), ("job.execHost", HOST)):
            with open(os.path.join(jdir, name), "w") as f:
                f.write(value + "\n")
        p = gsat.run("trigger", "--job", "2", "MYEVENT", "x")
        assert p.returncode == 1
        assert p.stderr == ("trigger: job 00002 runs under a classic sputnik (started by a classic gsatlc), "
                            "which does not know triggered events; no service of MYEVENT was run\n")
        # Asked with the job's id first (our sputniks check it), then, the
        # verb unknown, as a sputnik of an earlier version is asked.
        assert sputnik.messages() == ["JOB_TRIGGER 00002 MYEVENT x", "TRIGGER MYEVENT x"]
    finally:
        sputnik.stop()


def test_our_controller_announces_what_it_understands(gsat):
    gsat.start()
    caps = os.path.join(gsat.g, "gsatlcCapabilities")
    with open(caps) as f:
        words = f.read().split()
    assert words[:2] == [str(gsat.controller_pid()), gsat.host()]
    assert {"QSUB-OPTIONS", "QWAIT"} <= set(words[2:])
    # Without the file (an NFS client that cannot see it yet) gqsub asks.
    os.unlink(caps)
    job_id = gsat.run("gqsub", "-N", "named", gsat.job("ok.sh", "true\n"), check=True).stdout.strip()
    assert gsat.attr(job_id, "job.name") == "named"
    gsat.wait_for(lambda: os.path.exists(caps), timeout=15, what="gsatlcCapabilities written again")
    gsat.stop()
    assert not os.path.exists(caps)

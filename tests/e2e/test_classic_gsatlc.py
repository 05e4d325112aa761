"""Our tools beside the real classic gsatellite 0.2 (issue 12, "Must hold").

Runs only where a checkout of the classic tools is at hand and bash can run
them: ``GSAT_CLASSIC_TREE=/path/to/classic pytest tests/e2e/test_classic_gsatlc.py``
(docs/classic-check.md).  The classic scripts are linked under their
installed names (``gsatlc``, ``gqsub``, ...) into a directory of the test,
as the classic ``install.sh`` links them, and put first on PATH.

* A classic gsatlc: our ``gqsub`` with options refuses and queues nothing;
  plain ``gqsub FILE`` runs the job; our gqstat prints what the classic
  gqstat prints.
* Our gsatlc: the classic ``gqsub`` submits, and the classic gqstat and
  ours print the same table and ``-f`` blocks for jobs our controller ran.
"""

import glob
import os
import signal
import subprocess

import pytest
from conftest import BIN

CLASSIC = os.environ.get("GSAT_CLASSIC_TREE")

pytestmark = pytest.mark.skipif(not CLASSIC, reason="GSAT_CLASSIC_TREE (a classic checkout) not given")


@pytest.fixture
def classic_bin(gsat, tmp_path):
    """The classic tree as install.sh lays it out, its bin/ first on PATH."""
    root = tmp_path / "classic"
    (root / "bin").mkdir(parents=True)
    for d in ("etc", "lib", "libexec"):
        os.symlink(os.path.join(CLASSIC, d), str(root / d))
    for script in glob.glob(os.path.join(CLASSIC, "bin", "*.bash")):
        os.symlink(script, str(root / "bin" / os.path.basename(script)[:-5]))
    for name in ("gqsub", "gqhold", "gqrls", "gqdel"):
        os.symlink(os.path.join(CLASSIC, "bin", "gsatctl.bash"), str(root / "bin" / name))
    gsat.env["PATH"] = str(root / "bin") + os.pathsep + gsat.env["PATH"]
    return str(root / "bin")


def ours(gsat, *argv, **kw):
    return gsat.run(os.path.join(BIN, argv[0]), *argv[1:], **kw)


def theirs(gsat, classic_bin, *argv):
    return gsat.run(os.path.join(classic_bin, argv[0]), *argv[1:])


@pytest.fixture
def classic_controller(gsat, classic_bin):
    # Its own session: the classic controller, its sigfwd and the action
    # that keeps gsatlcPid young stay in this process group.
    starter = subprocess.Popen([os.path.join(classic_bin, "gsatlcd"), "--start"], env=gsat.env,
                               cwd=gsat.jobs, start_new_session=True)
    starter.wait(timeout=30)
    log = os.path.join(gsat.g, "var", "log", "gsatlc.log")

    def started():
        try:
            with open(log) as f:
                return "Started up." in f.read()
        except OSError:
            return False

    gsat.wait_for(started, timeout=60, what="the classic gsatlc to start")
    try:
        yield
    finally:
        gsat.run(os.path.join(classic_bin, "gsatlcd"), "--stop")
        try:
            os.killpg(starter.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _same_gqstat(gsat, classic_bin, *argv):
    mine, classic = ours(gsat, "gqstat", *argv), theirs(gsat, classic_bin, "gqstat", *argv)
    assert classic.returncode == 0, classic.stderr
    assert (mine.returncode, mine.stdout) == (0, classic.stdout), argv


def test_our_clients_against_the_classic_gsatlc(gsat, classic_bin, classic_controller):
    job = gsat.job("ok.sh", "echo hello\n")
    p = ours(gsat, "gqsub", "-N", "myname", job)
    assert p.returncode == 1 and p.stdout == ""
    assert "a classic one) does not understand gqsub's option -N; nothing submitted" in p.stderr
    assert not glob.glob(os.path.join(gsat.g, "gschedule", "jobs", "*.d"))

    job_id = ours(gsat, "gqsub", job, check=True).stdout.strip()
    assert gsat.wait_state(job_id, ("finished", "failed"), timeout=60) == "finished"
    assert gsat.attr(job_id, "job.stdout") == "hello"
    assert ours(gsat, "gqwait", job_id).returncode == 0
    for argv in ([], ["-f"], ["-f", job_id]):
        _same_gqstat(gsat, classic_bin, *argv)


def test_classic_clients_against_our_gsatlc(gsat, classic_bin):
    ours(gsat, "gsatlcd", "--start", check=True)
    job = gsat.job("ok.sh", "echo hello\n")
    p = theirs(gsat, classic_bin, "gqsub", job)
    assert p.returncode == 0, p.stderr
    first = p.stdout.split()[-1]
    named = ours(gsat, "gqsub", "-N", "named", "-m", "n", job, check=True).stdout.strip()
    for job_id in (first, named):
        assert gsat.wait_state(job_id, ("finished", "failed"), timeout=60) == "finished"
    assert gsat.attr(first, "job.stdout") == "hello"
    # Jobs our controller ran, with attributes the classic tools never write.
    assert gsat.attr(named, "job.submitted")
    for argv in ([], ["-f"], ["-f", first], ["-f", named], ["-s", "finished", "-f"]):
        _same_gqstat(gsat, classic_bin, *argv)

"""Our sputnikd, sputnik and sputnikRunJob under a classic controller.

A classic gsatlc finds these on PATH and calls them with the classic command
lines; it copies the job with plain ``cp`` (not executable).  The test plays
the classic controller: it writes the job directory by hand, owns the box
named by gsatlcPid, and reads what arrives there.
"""

import os
import time

from conftest import BIN
from gsatellite import paths, pidref
from gsatellite.transport import mbox


def _classic_job(gsat, job_id, body):
    jdir = gsat.job_dir(job_id)
    os.makedirs(os.path.join(jdir, "jobtmp"))
    for name, value in (("jobId", job_id), ("job.id", job_id), ("job.name", "c.job"), ("job.type", "default")):
        with open(os.path.join(jdir, name), "w") as f:
            f.write(value + "\n")
    job = os.path.join(jdir, "jobtmp", "c.job")
    with open(job, "w") as f:
        f.write(body)
    os.chmod(job, 0o600)  # as classic `cp` of a 0600 file leaves it
    os.symlink(job, os.path.join(jdir, job_id))
    return jdir, job


def _controller_box(gsat, monkeypatch):
    """A box with our PID, named by a fresh gsatlcPid: we are 'the controller'."""
    monkeypatch.setenv("HOME", gsat.home)
    monkeypatch.setenv("GSAT_HOSTNAME", "classichost")
    gsat.env["GSAT_HOSTNAME"] = "classichost"
    paths.reset()
    box = mbox.create_pid_box()
    with open(os.path.join(gsat.g, "gsatlcHostName"), "w") as f:
        f.write("classichost\n")
    # With its sidecar: a bare PID must name a controller's program.
    pidref.write_pid_file(os.path.join(gsat.g, "gsatlcPid"), os.getpid())
    return box


def _resign(gsat, box):
    # gsatlcPid names this very test process: it must go before the fixture's
    # teardown kills "the controller" it finds there.
    os.unlink(os.path.join(gsat.g, "gsatlcPid"))
    mbox.remove_box(box)
    paths.reset()


def _collect(box, want, timeout=30):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        msg = mbox.receive(box)
        if msg is None:
            time.sleep(0.02)
            # keep the liveness rule satisfied, as a live controller would
            os.utime(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(box))), "gsatlcPid"))
        else:
            got.append(msg)
    return got


def test_sputnikd_under_a_classic_controller(gsat, monkeypatch):
    box = _controller_box(gsat, monkeypatch)
    try:
        jdir, job = _classic_job(gsat, "00000", "#!/bin/bash\necho $GSAT_O_JOBID\nexit 3\n")
        p = gsat.run(os.path.join(BIN, "sputnikd"), job, jdir, "00000")
        assert p.returncode == 0, p.stderr
        got = _collect(box, 2)
        assert [m.split(";")[0] for m in got] == ["STARTED 00000", "TERMINATED 00000 3"]
        spid = gsat.attr("00000", "sputnik.pid")
        assert got[0].split(";")[1].endswith("/%s.inbox" % spid)
        assert gsat.attr("00000", "job.exit") == "3"
        assert gsat.attr("00000", "job.stdout") == "00000"
        assert len(gsat.attr("00000", "job.start").split()) == 1
        assert len(gsat.attr("00000", "job.stop").split()) == 1
    finally:
        _resign(gsat, box)


def test_sputnik_run_job_speaks_the_classic_runner_exchange(gsat, monkeypatch):
    box = _controller_box(gsat, monkeypatch)
    try:
        jdir, job = _classic_job(gsat, "00001", "#!/bin/bash\nexit 4\n")
        p = gsat.run(os.path.join(BIN, "sputnikRunJob"), job, "00001", str(os.getpid()), box)
        assert p.returncode == 0, p.stderr
        got = [m.split(";")[0] for m in _collect(box, 3)]
        assert got[0].startswith("JOB_CHILD_PID ")
        assert got[1:] == ["STARTED", "TERMINATED 4"]
        # A classic sputnik does not record the end: the runner does.
        assert gsat.attr("00001", "job.exit") == "4"
        assert len(gsat.attr("00001", "job.stop").split()) == 1
        assert "GSAT_O_JOBID" in gsat.attr("00001", "job.env")
    finally:
        _resign(gsat, box)

"""A hostile user and a failing machine against stage in/out, proxy expiry
and the several-hosts files (issues 15 and 17), with the real controller in
a temporary $HOME.

Every attack here was run by hand first; the ones that broke something
(named in each test) fail without their fix, the others guard what held.
Files the daemons read are planted as a user's shell would: a FIFO where a
file belongs, digits that are no ASCII digits, hard and symbolic links
made by the job itself, a message sent with shell tools.
"""

import os
import shlex
import sys

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)

from e2e.test_protocol import classic  # noqa: E402
from e2e.test_staging import _read, _store, _write  # noqa: E402


def _one_line(p, code):
    """One clear line on stderr, no traceback, the documented exit code."""
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


# -- stage out: what the job leaves behind ------------------------------------------------

def _stage_out_attack(gsat, body, name):
    """Run a job of ``body`` (``{secret}``: a private key, ``{private}``:
    its directory) that stages out ``name``; ``(job id, DEST directory)``."""
    private = gsat.tmp / "ssh"
    private.mkdir()
    secret = _write(private / "id_rsa", "PRIVATE KEY\n")
    dest = gsat.tmp / "dest"
    dest.mkdir()
    gsat.start()
    job = gsat.job("attack.job", body.format(secret=shlex.quote(secret), private=shlex.quote(str(private))))
    a = gsat.run("gqsub", "-O", "%s:%s/" % (name, dest), job, check=True).stdout.strip()
    assert gsat.run("gqwait", a).returncode == 0
    assert _read(secret) == "PRIVATE KEY\n"
    return a, dest


def test_a_hard_link_to_a_file_outside_is_not_staged_out(gsat):
    """Broke: ``ln ~/.ssh/id_rsa result`` had the key copied to DEST (the
    check against symbolic links let a hard link through)."""
    a, dest = _stage_out_attack(gsat, "ln {secret} result\n", "result")
    assert os.listdir(dest) == []
    assert "result has 2 hard links; only a file with one is copied" in gsat.attr(a, "job.stageOutError")


def test_a_working_directory_replaced_by_a_link_is_not_followed(gsat):
    """Broke: a job that renamed its working directory away and put a link
    to a private directory in its place had that directory's files copied."""
    a, dest = _stage_out_attack(gsat, "cd .. && mv jobtmp jobtmp.away && ln -s {private} jobtmp\n", "id_rsa")
    assert os.listdir(dest) == []
    assert "is no longer a directory of the job's own" in gsat.attr(a, "job.stageOutError")


def test_a_restart_does_not_place_inputs_through_a_linked_working_directory(gsat):
    """Broke: a gtransfer run that replaced its working directory with a
    link to ~/.ssh and asked for a restart had the next run's stage-in
    replace ~/.ssh/authorized_keys."""
    ssh = gsat.tmp / "ssh"
    ssh.mkdir()
    keys = _write(ssh / "authorized_keys", "ssh-ed25519 AAAA mine\n")
    planted = _write(gsat.tmp / "authorized_keys", "ssh-ed25519 BBBB attacker\n")
    gsat.start()
    job = gsat.job("rs.job", (
        "#GSAT -T gtransfer\n"
        # Its script goes along, or the controller finds it missing and
        # never starts the next run.
        "cp rs.job {0}/ && cd .. && mv jobtmp jobtmp.away && ln -s {0} jobtmp && exit 75\n".format(
            shlex.quote(str(ssh)))))
    a = gsat.run("gqsub", "-i", planted, job, check=True).stdout.strip()
    gsat.run("gqwait", a)
    assert gsat.state(a) == "failed"
    assert _read(keys) == "ssh-ed25519 AAAA mine\n"
    assert "no longer a directory of the job's own" in gsat.attr(a, "job.stderr")


def test_a_destination_in_the_store_is_refused(gsat):
    """Broke: ``-O r:~/.gsatellite/...`` added files to the store (a
    ``gsatlcPid.1``, a job-like name in ``gschedule/queued``, a claim);
    refused at submission, and at the end when a link made by the job
    leads there."""
    gsat.start()
    job = gsat.job("st.job", "echo r > r\nln -s %s %s/into\n" % (shlex.quote(gsat.g), shlex.quote(str(gsat.tmp))))
    before = _store(gsat)
    for dest in ("~/.gsatellite/gsatlc.claim.9", "%s/gschedule/queued/" % gsat.g, gsat.g):
        p = gsat.run("gqsub", "-O", "r:%s" % dest, job)
        _one_line(p, 1)
        assert "inside %s, which belongs to gsatellite" % gsat.g in p.stderr
        assert p.stderr.endswith("; nothing submitted.\n"), p.stderr
    p = gsat.run("gqsub", "-O", "r", job, cwd=os.path.join(gsat.g, "gschedule"))  # the default DEST
    _one_line(p, 1)
    assert _store(gsat) == before
    a = gsat.run("gqsub", "-O", "r:%s/into/" % gsat.tmp, job, check=True).stdout.strip()
    assert gsat.run("gqwait", a).returncode == 0
    assert not os.path.exists(os.path.join(gsat.g, "r"))
    assert "which belongs to gsatellite" in gsat.attr(a, "job.stageOutError")


def test_hand_made_stage_in_tokens_take_nothing(gsat):
    """Held: a QSUB sent with shell tools whose -i token climbs out of the
    spool, names a link in it, or names a directory holding a link."""
    outside = gsat.tmp / "outside"
    outside.mkdir()
    _write(outside / "f", "outside\n")
    gsat.start()
    spool = os.path.join(gsat.g, "var", "spool", "stagein")
    os.makedirs(spool, exist_ok=True)
    os.symlink(str(outside), os.path.join(spool, "link1"))
    os.mkdir(os.path.join(spool, "dir1"))
    os.symlink(str(outside / "f"), os.path.join(spool, "dir1", "f"))
    job = gsat.job("t.job", "true\n")
    pid, box = gsat.controller_pid(), gsat.controller_box()
    for token in ("..%2F..%2F..%2Foutside", "..", ".", "%2Ftmp", "link1", "dir1", "a%0ab", "x" * 65):
        answer = classic(gsat, box, "QSUB -i=%s -- %s" % (token, job), pid)
        assert answer == "qsub failed;%s" % box, token
    assert sorted(os.listdir(outside)) == ["f"] and _read(outside / "f") == "outside\n"
    assert os.listdir(os.path.join(gsat.g, "gschedule", "jobs")) == []
    assert _alive(pid)
    assert gsat.wait_state(gsat.qsub(job), ("finished", "failed")) == "finished"

"""Which services run (docs/protocol.md, "Services"; issue 12 item 2).

* run-services (bash) starts what only the user could have written, also a
  group-writable service of a private group (umask 002), and refuses one
  owned by another user, writable by others, or writable by a group with
  another member.
* Every refusal is written to the job's ``job.serviceRefused`` and the
  controller's log; :func:`gsatellite.services.refusals`, which gqsub uses
  to warn, predicts exactly the services run-services refuses.
* Under the real controller, a mode-775 service of a private group runs for
  a job, and a refused one shows in that job's ``job.serviceRefused``.
"""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import usergroups  # noqa: E402
from gsatellite import services  # noqa: E402

RUN_SERVICES = os.path.join(ROOT, "libexec", "run-services")
ENDED = ("finished", "failed")


def _service(d, name, out, mode, gid=-1, uid=-1):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write('#!/bin/bash\ntouch %s/"%s"\n' % (out, name))
    if uid != -1 or gid != -1:
        os.chown(path, uid, gid)
    os.chmod(path, mode)
    return path


def _cases(d, out):
    """{name: expected to run} for every kind this machine lets us make."""
    cases = {}
    _service(d, "mine_700", out, 0o700)
    cases["mine_700"] = True
    _service(d, "mine_755", out, 0o755)
    cases["mine_755"] = True
    _service(d, "world_777", out, 0o777)
    cases["world_777"] = False
    _service(d, "world_757", out, 0o757)
    cases["world_757"] = False
    _service(d, "noexec_644", out, 0o644)
    cases["noexec_644"] = False
    private, shared = usergroups.private_group(), usergroups.shared_group()
    if private is not None:
        _service(d, "private_775", out, 0o775, gid=private)
        cases["private_775"] = True
    if shared is not None:
        _service(d, "shared_775", out, 0o775, gid=shared)
        cases["shared_775"] = False
        # Group-readable and executable only: nobody else can write it.
        _service(d, "shared_755", out, 0o755, gid=shared)
        cases["shared_755"] = True
    if os.getuid() == 0:
        _service(d, "other_755", out, 0o755, uid=65534)
        cases["other_755"] = False
    return cases


def test_run_services_runs_what_only_the_user_could_write(tmp_path):
    d, out = str(tmp_path / "onJOB_START"), str(tmp_path / "out")
    os.makedirs(d)
    os.makedirs(out)
    job_dir = tmp_path / "00007.d"
    (job_dir / "jobtmp").mkdir(parents=True)
    env_file = job_dir / "job.env"
    env_file.write_text('export GSAT_O_JOBID="00007"\n')
    cases = _cases(d, out)
    env = dict(os.environ, HOME=str(tmp_path), GSAT_RUN_SERVICES_WAIT="1")
    p = subprocess.run([RUN_SERVICES, "JOB_START", str(env_file), d], env=env,
                       capture_output=True, text=True, timeout=60)
    ran = set(os.listdir(out))
    assert ran == {name for name, runs in cases.items() if runs}, p.stderr

    refused = [name for name, runs in cases.items() if not runs and not name.startswith("noexec")]
    lines = (job_dir / "job.serviceRefused").read_text().splitlines()
    assert sorted(line.split(" ", 2)[2].split(":")[0] for line in lines) == sorted(os.path.join(d, n) for n in refused)
    for line in lines:
        stamp, event, rest = line.split(" ", 2)
        assert stamp.isdigit() and event == "JOB_START"
    for name in refused:
        assert "refused service %s/%s" % (d, name) in p.stderr

    # gqsub's prediction names the same services, with the same reasons.
    predicted = services.refusals([d])
    assert len(predicted) == len(refused)
    for line, text in zip(sorted(lines, key=lambda x: x.split(" ", 2)[2]), sorted(predicted)):
        path_and_reason = line.split(" ", 2)[2]
        assert text == "service %s is not run: %s" % tuple(path_and_reason.split(": ", 1))


def test_refusal_reasons():
    shared = usergroups.shared_group()
    if shared is None:
        pytest.skip("no group with another member on this machine")
    assert services._group_shared(shared, os.getuid())
    private = usergroups.private_group()
    assert not services._group_shared(private, os.getuid())
    # A gid nobody can look up counts as shared.
    free = next(g for g in range(40000, 60000) if _no_group(g))
    assert services._group_shared(free, os.getuid())


def _no_group(gid):
    import grp

    try:
        grp.getgrgid(gid)
        return False
    except KeyError:
        return True


def test_umask_002_service_runs_and_refusal_reaches_the_job(gsat):
    out = str(gsat.tmp / "out")
    os.makedirs(out)
    private, shared = usergroups.private_group(), usergroups.shared_group()
    if private is None or shared is None:
        pytest.skip("needs a private group and a group with another member")
    good = gsat.service("JOB_START", "umask002", 'touch %s/"$GSAT_O_JOBID"\n' % out, mode=0o775)
    os.chown(good, -1, private)
    bad = gsat.service("JOB_START", "shared", 'touch %s/bad\n' % out, mode=0o775)
    os.chown(bad, -1, shared)
    os.chmod(bad, 0o775)
    os.chmod(good, 0o775)
    gsat.start()
    p = gsat.run("gqsub", gsat.job("a.job", "true\n"), check=True)
    a = p.stdout.strip()
    # gqsub warns about the service that will be refused, and only that one.
    assert p.stderr.splitlines() == [
        "gqsub: warning: service %s is not run: writable by group %d, which has other members (mode 775)"
        % (bad, shared)], p.stderr
    assert gsat.wait_state(a, ENDED) == "finished"
    gsat.wait_for(lambda: os.path.exists(os.path.join(out, a)), what="the umask-002 service")
    gsat.wait_for(lambda: gsat.attr(a, "job.serviceRefused"), what="job.serviceRefused")
    (line,) = gsat.attr(a, "job.serviceRefused").splitlines()
    assert line.split(" ", 2)[1:] == [
        "JOB_START", "%s: writable by group %d, which has other members (mode 775)" % (bad, shared)]
    assert not os.path.exists(os.path.join(out, "bad"))

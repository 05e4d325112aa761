"""The classic defaults and job environment (issue 12 items 5 and 7).

* The shipped ``mail`` service is linked into the install tree's
  ``onJOB_START`` and ``onJOB_TERMINATION``: every job start and end mails
  the user through the local ``mail`` command (a fake on PATH records its
  arguments and standard input), to every word of ``G/myEmailAddress`` as
  the classic ``$( __getEmailAddress )`` gave them.
* With SMTP configured, the mail goes over SMTP instead.
* ``mail_service = no`` turns the default off; a ``mail`` service linked
  into the user's own directory still mails.
* ``gsat-python`` runs the interpreter pip named in ``PREFIX/bin/gsatlc``.
* Jobs and services: ``TMPDIR`` unset as the classic tools left it,
  ``GSAT_O_LOGNAME`` from ``$USER``, the services' PATH exactly the
  controller's (no interpreter directory in front).
"""

import os
import shlex
import shutil
import subprocess
import sys

from conftest import ROOT

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import smtp_server  # noqa: E402

ENDED = ("finished", "failed")
LIBEXEC = os.path.join(ROOT, "libexec")


def _fake_mail(gsat):
    """A ``mail`` command first on PATH that records each call."""
    bindir, out = str(gsat.tmp / "fakebin"), str(gsat.tmp / "mails")
    os.makedirs(bindir)
    os.makedirs(out)
    script = os.path.join(bindir, "mail")
    with open(script, "w") as f:
        f.write("#!/bin/bash\n"
                "f=%s/$$\n"
                "printf '%%s\\n' \"$@\" > \"$f.args\"\n"
                "cat > \"$f.tmp\" && mv \"$f.tmp\" \"$f.body\"\n" % shlex.quote(out))
    os.chmod(script, 0o755)
    gsat.env["PATH"] = bindir + os.pathsep + gsat.env["PATH"]
    return out


def _calls(out):
    calls = []
    for name in sorted(n for n in os.listdir(out) if n.endswith(".body")):
        with open(os.path.join(out, name[:-5] + ".args")) as f:
            args = f.read().splitlines()
        with open(os.path.join(out, name)) as f:
            calls.append((args, f.read()))
    return calls


def test_system_mail_service_mails_through_local_mail_command(gsat):
    out = _fake_mail(gsat)
    os.makedirs(gsat.g)
    with open(os.path.join(gsat.g, "myEmailAddress"), "w") as f:
        f.write("me@example.org\nother@example.org\n")
    gsat.start(mail_service="yes")
    a = gsat.qsub(gsat.job("m.job", "exit 3\n"))
    assert gsat.wait_state(a, ENDED) == "failed"
    gsat.wait_for(lambda: len(_calls(out)) == 2, what="two calls of the mail command")
    by_subject = {args[1]: (args, body) for args, body in _calls(out)}
    assert sorted(by_subject) == ["[GSAT] %s => JOB_START" % a, "[GSAT] %s => JOB_TERMINATION" % a]
    for args, body in by_subject.values():
        assert args[0] == "-s" and args[2:] == ["me@example.org", "other@example.org"]
        assert "Job id: %s" % a in body.splitlines()
    body = by_subject["[GSAT] %s => JOB_TERMINATION" % a][1].splitlines()
    assert "Event: JOB_TERMINATION" in body and "Job exit value: 3" in body


def test_smtp_when_configured(gsat):
    out = _fake_mail(gsat)
    server = smtp_server.SmtpServer().start()
    try:
        gsat.start(mail_service="yes", smtp_host=smtp_server.HOST, smtp_port=server.port)
        a = gsat.qsub(gsat.job("s.job", "true\n"))
        assert gsat.wait_state(a, ENDED) == "finished"
        server.wait_count(2)
        subjects = sorted(m["message"]["Subject"] for m in server.received())
        assert subjects == ["[GSAT] %s => JOB_START" % a, "[GSAT] %s => JOB_TERMINATION" % a]
        assert _calls(out) == []
    finally:
        server.stop()


def _run_system_services(gsat, home_env):
    """run-services for the install tree's onJOB_START, waiting for its services."""
    job_dir = gsat.tmp / "00001.d"
    (job_dir / "jobtmp").mkdir(parents=True, exist_ok=True)
    env_file = job_dir / "job.env"
    env_file.write_text('export GSAT_O_JOBID="00001"\nexport GSAT_JOBNAME="x"\n')
    env = dict(home_env, GSAT_RUN_SERVICES_WAIT="1")
    p = subprocess.run([os.path.join(LIBEXEC, "run-services"), "JOB_START", str(env_file),
                        os.path.join(LIBEXEC, "services", "onJOB_START")],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_mail_service_setting(gsat):
    out = _fake_mail(gsat)
    env = dict(gsat.env)
    del env["GSAT_MAIL_SERVICE"]
    os.makedirs(gsat.g)
    conf = os.path.join(gsat.g, "gsatellite.conf")
    with open(conf, "w") as f:
        f.write("mail_service = no\n")
    _run_system_services(gsat, env)
    assert _calls(out) == []
    # A mail service the user linked into their own directory still mails.
    mine = os.path.join(gsat.g, "services", "onJOB_START")
    os.makedirs(mine)
    os.symlink(os.path.join(LIBEXEC, "services", "mail"), os.path.join(mine, "mail"))
    subprocess.run([os.path.join(LIBEXEC, "run-services"), "JOB_START", str(gsat.tmp / "00001.d" / "job.env"), mine],
                   env=dict(env, GSAT_RUN_SERVICES_WAIT="1"), check=True, timeout=60)
    assert len(_calls(out)) == 1
    with open(conf, "w") as f:
        f.write("mail_service = yes\n")
    _run_system_services(gsat, env)
    assert len(_calls(out)) == 2


def test_gsat_python_runs_the_interpreter_pip_named(tmp_path):
    prefix = tmp_path / "prefix"
    shutil.copytree(LIBEXEC, str(prefix / "libexec" / "gsatellite"), symlinks=False)
    (prefix / "bin").mkdir()
    record = tmp_path / "record"
    fake = tmp_path / "venv" / "bin" / "python3.11"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/bash\nprintf '%%s\\n' \"$0\" \"$@\" > %s\n" % shlex.quote(str(record)))
    fake.chmod(0o755)
    (prefix / "bin" / "gsatlc").write_text("#!%s\n# -*- coding: utf-8 -*-\n" % fake)
    # The copy pip makes of services/onJOB_START/mail finds gsat-python too.
    service = prefix / "libexec" / "gsatellite" / "services" / "onJOB_START" / "mail"
    assert not os.path.islink(str(service))
    env = dict(os.environ, GSAT_MAIL_SERVICE="yes", HOME=str(tmp_path))
    subprocess.run([str(service)], env=env, check=True, timeout=60)
    got = record.read_text().splitlines()
    assert got[0] == str(fake)
    assert got[1] == "-c" and "service_main" in got[2] and got[3] == str(service)


def test_job_and_service_environment_as_classic(gsat):
    out = str(gsat.tmp / "out")
    os.makedirs(out)
    gsat.env["TMPDIR"] = str(gsat.tmp)
    gsat.env["USER"] = "classic-user"
    # Written aside and renamed: the file's existence is the sentinel, so it
    # must never be seen half-written.
    gsat.service("JOB_START", "env", "env -0 > %s/.service.env && mv %s/.service.env %s/service.env\n"
                 % ((shlex.quote(out),) * 3))
    gsat.start()
    a = gsat.qsub(gsat.job("e.job", "env -0 > %s/job.env\n" % shlex.quote(out)))
    assert gsat.wait_state(a, ENDED) == "finished"
    gsat.wait_for(lambda: os.path.exists(os.path.join(out, "service.env")), what="service")
    for name in ("job.env", "service.env"):
        with open(os.path.join(out, name), "rb") as f:
            env = dict(e.decode().partition("=")[::2] for e in f.read().split(b"\0") if e)
        assert "TMPDIR" not in env, name
        assert env["GSAT_O_LOGNAME"] == "classic-user", name
    with open(os.path.join(out, "service.env"), "rb") as f:
        env = dict(e.decode().partition("=")[::2] for e in f.read().split(b"\0") if e)
    # The controller's PATH, nothing put in front of it.
    assert env["PATH"] == gsat.env["PATH"]
    assert env["_notificationEmailAddress"] == os.path.join(gsat.g, "myEmailAddress")

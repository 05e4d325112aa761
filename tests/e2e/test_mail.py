"""Mail (FEATURES.md §4, PROTOCOL.md §6) against a real SMTP server.

* Per-job notices: ``-m be`` gives a begin and an end mail, ``-m a`` one mail
  for a failed job, ``-m n`` and no ``-m`` none; set by ``#GSAT -m/-M`` or
  by ``gqsub -m/-M`` (which override the directives).  Subject
  ``[GSAT] ID => EVENT``; the body names event, exit value, job name, id
  and host.
* The shipped ``mail``/``mailJobTarball`` services, linked into the user's
  service directories, mail ``G/myEmailAddress``; the tarball opens and
  holds the job directory.
* A delivery failure is logged in gsatlc.log and the job ends normally.
* The ``sendmail`` setting: the message and the recipients go to that
  command instead.
"""

import io
import os
import shlex
import sys
import tarfile
import time

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(TESTS)
sys.path.insert(0, TESTS)

import smtp_server  # noqa: E402

ENDED = ("finished", "failed")
# How long we keep listening to be sure a mail that should not come does not.
QUIET = 1.5


@pytest.fixture
def smtp():
    server = smtp_server.SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


def _start(gsat, smtp):
    gsat.start(smtp_host=smtp_server.HOST, smtp_port=smtp.port, mail_from="gsat@test.invalid")


def _by_subject(messages):
    return {m["message"]["Subject"]: m for m in messages}


def _body(m):
    return m["message"].get_body(("plain",)).get_content()


def _check_body(gsat, m, event, job_id, name, exit_value=None):
    lines = _body(m).splitlines()
    assert "Event: %s" % event in lines
    assert "Job id: %s" % job_id in lines
    assert "Job name: %s" % name in lines
    assert "Executed on: %s" % gsat.host() in lines
    if exit_value is None:
        assert not [line for line in lines if line.startswith("Job exit value:")]
    else:
        assert "Job exit value: %s" % exit_value in lines


def test_begin_and_end_by_directives(gsat, smtp):
    _start(gsat, smtp)
    job = gsat.job("be.job", "#GSAT -m be\n#GSAT -M a@example.org,b@example.org\nexit 0\n")
    a = gsat.qsub(job)
    assert gsat.wait_state(a, ENDED) == "finished"
    smtp.wait_count(2)
    time.sleep(QUIET)
    got = _by_subject(smtp.received())
    assert sorted(got) == ["[GSAT] %s => JOB_START" % a, "[GSAT] %s => JOB_TERMINATION" % a]
    for m in got.values():
        assert sorted(m["to"]) == ["a@example.org", "b@example.org"]
        assert m["from"] == "gsat@test.invalid"
    _check_body(gsat, got["[GSAT] %s => JOB_START" % a], "JOB_START", a, "be.job")
    _check_body(gsat, got["[GSAT] %s => JOB_TERMINATION" % a], "JOB_TERMINATION", a, "be.job", 0)


def test_abort_mail_for_failed_job_only(gsat, smtp):
    _start(gsat, smtp)
    ok = gsat.job("ok.job", "#GSAT -m a\n#GSAT -M x@example.org\nexit 0\n")
    bad = gsat.job("bad.job", "#GSAT -m a\n#GSAT -M x@example.org\nexit 3\n")
    a, b = gsat.run("gqsub", ok, bad, check=True).stdout.split()
    assert gsat.wait_state(a, ENDED) == "finished"
    assert gsat.wait_state(b, ENDED) == "failed"
    smtp.wait_count(1)
    time.sleep(QUIET)
    got = smtp.received()
    assert [m["message"]["Subject"] for m in got] == ["[GSAT] %s => JOB_ABORT" % b]
    assert got[0]["to"] == ["x@example.org"]
    _check_body(gsat, got[0], "JOB_ABORT", b, "bad.job", 3)


def test_no_mail_without_request(gsat, smtp):
    _start(gsat, smtp)
    none = gsat.job("n.job", "#GSAT -m n\n#GSAT -M x@example.org\nexit 1\n")
    plain = gsat.job("plain.job", "exit 1\n")
    plain_to = gsat.job("plain_to.job", "#GSAT -M x@example.org\nexit 1\n")
    # Sent last: once its mail is in, the others' would be too.
    sentinel = gsat.job("sentinel.job", "#GSAT -m e\n#GSAT -M x@example.org\nexit 0\n")
    ids = gsat.run("gqsub", none, plain, plain_to, sentinel, check=True).stdout.split()
    for job_id in ids:
        gsat.wait_state(job_id, ENDED)
    smtp.wait_count(1)
    time.sleep(QUIET)
    assert [m["message"]["Subject"] for m in smtp.received()] == ["[GSAT] %s => JOB_TERMINATION" % ids[-1]]


def test_options_override_directives(gsat, smtp):
    _start(gsat, smtp)
    job = gsat.job("o.job", "#GSAT -m n\n#GSAT -M wrong@example.org\nexit 5\n")
    a = gsat.run("gqsub", "-m", "be", "-M", "right@example.org", job, check=True).stdout.strip()
    assert gsat.wait_state(a, ENDED) == "failed"
    smtp.wait_count(2)
    time.sleep(QUIET)
    got = _by_subject(smtp.received())
    assert sorted(got) == ["[GSAT] %s => JOB_START" % a, "[GSAT] %s => JOB_TERMINATION" % a]
    for m in got.values():
        assert m["to"] == ["right@example.org"]
    _check_body(gsat, got["[GSAT] %s => JOB_TERMINATION" % a], "JOB_TERMINATION", a, "o.job", 5)


def test_option_mail_points_without_directives_default_address(gsat, smtp):
    os.makedirs(gsat.g, exist_ok=True)
    with open(os.path.join(gsat.g, "myEmailAddress"), "w") as f:
        f.write("me@example.org\n")
    _start(gsat, smtp)
    a = gsat.run("gqsub", "-m", "a", gsat.job("f.job", "exit 2\n"), check=True).stdout.strip()
    assert gsat.wait_state(a, ENDED) == "failed"
    got = smtp.wait_count(1)
    time.sleep(QUIET)
    assert len(smtp.received()) == 1
    assert got[0]["message"]["Subject"] == "[GSAT] %s => JOB_ABORT" % a
    assert got[0]["to"] == ["me@example.org"]


def test_abort_mail_when_held_while_running(gsat, smtp):
    _start(gsat, smtp)
    job = gsat.job("h.job", "#GSAT -m a\n#GSAT -M x@example.org\ntouch ready\nsleep 30\n")
    a = gsat.qsub(job)
    ready = os.path.join(gsat.job_dir(a), "jobtmp", "ready")
    gsat.wait_for(lambda: os.path.exists(ready), what="job running")
    gsat.run("gqhold", a, check=True)
    got = smtp.wait_count(1)
    assert got[0]["message"]["Subject"] == "[GSAT] %s => JOB_ABORT" % a
    assert "held" in _body(got[0])


def _link_service(gsat, event, name):
    d = os.path.join(gsat.g, "services", "on" + event)
    os.makedirs(d, exist_ok=True)
    os.symlink(os.path.join(ROOT, "libexec", "services", name), os.path.join(d, name))


def test_shipped_mail_and_tarball_services(gsat, smtp):
    _link_service(gsat, "JOB_START", "mail")
    _link_service(gsat, "JOB_TERMINATION", "mailJobTarball")
    with open(os.path.join(gsat.g, "myEmailAddress"), "w") as f:
        f.write("me@example.org\n")
    _start(gsat, smtp)
    job = gsat.job("tar.job", "echo payload > payload.txt\necho to-stdout\nexit 4\n")
    a = gsat.qsub(job)
    assert gsat.wait_state(a, ENDED) == "failed"
    smtp.wait_count(2)
    time.sleep(QUIET)
    got = _by_subject(smtp.received())
    assert sorted(got) == ["[GSAT] %s => JOB_START" % a, "[GSAT] %s => JOB_TERMINATION" % a]
    for m in got.values():
        assert m["to"] == ["me@example.org"]
    start, end = got["[GSAT] %s => JOB_START" % a], got["[GSAT] %s => JOB_TERMINATION" % a]
    _check_body(gsat, start, "JOB_START", a, "tar.job")
    _check_body(gsat, end, "JOB_TERMINATION", a, "tar.job", 4)
    assert list(start["message"].iter_attachments()) == []
    attachments = list(end["message"].iter_attachments())
    assert len(attachments) == 1
    data = attachments[0].get_content()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = set(tar.getnames())
        top = "%s.d" % a
        assert {top, top + "/jobtmp", top + "/jobtmp/tar.job", top + "/jobtmp/payload.txt",
                top + "/job.stdout", top + "/job.env"} <= names
        assert tar.extractfile(top + "/jobtmp/payload.txt").read() == b"payload\n"
        assert tar.extractfile(top + "/job.stdout").read() == b"to-stdout\n"


def test_delivery_failure_is_logged_and_job_finishes(gsat):
    port, blocker = smtp_server.dead_port()
    try:
        gsat.start(smtp_host=smtp_server.HOST, smtp_port=port)
        job = gsat.job("d.job", "#GSAT -m be\n#GSAT -M x@example.org\necho done\n")
        a = gsat.qsub(job)
        assert gsat.wait_state(a, ENDED) == "finished"
        assert gsat.attr(a, "job.exit") == "0"
        assert gsat.attr(a, "job.stdout") == "done"
        log_file = os.path.join(gsat.g, "var", "log", "gsatlc.log")

        def failures():
            with open(log_file, errors="replace") as f:
                return [line for line in f.read().splitlines()
                        if a in line and "not delivered" in line and str(port) in line]

        gsat.wait_for(lambda: len(failures()) == 2, what="two delivery failures in gsatlc.log")
        assert "JOB_START" in failures()[0] + failures()[1]
        assert "JOB_TERMINATION" in failures()[0] + failures()[1]
        # The controller still works after the failures.
        b = gsat.qsub(gsat.job("next.job", "true\n"))
        assert gsat.wait_state(b, ENDED) == "finished"
    finally:
        blocker.close()


def test_sendmail_command(gsat):
    out = str(gsat.tmp / "sent")
    os.makedirs(out)
    script = os.path.join(str(gsat.tmp), "fake-sendmail")
    with open(script, "w") as f:
        f.write(
            "#!/bin/bash\n"
            "f=%s/$$\n"
            "printf '%%s\\n' \"$@\" > \"$f.args\"\n"
            "cat > \"$f.tmp\" && mv \"$f.tmp\" \"$f.msg\"\n" % shlex.quote(out))
    os.chmod(script, 0o755)
    # Port 1 on localhost: if the SMTP path were used instead, nothing arrives.
    gsat.start(sendmail="%s -oi" % script, smtp_host=smtp_server.HOST, smtp_port=1)
    job = gsat.job("s.job", "#GSAT -m be\n#GSAT -M a@example.org,b@example.org\nexit 6\n")
    a = gsat.qsub(job)
    assert gsat.wait_state(a, ENDED) == "failed"

    def messages():
        return sorted(n for n in os.listdir(out) if n.endswith(".msg"))

    gsat.wait_for(lambda: len(messages()) == 2, what="two messages through sendmail")
    import email
    import email.policy

    subjects = {}
    for name in messages():
        with open(os.path.join(out, name), "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        with open(os.path.join(out, name[:-4] + ".args")) as f:
            assert f.read().splitlines() == ["-oi", "a@example.org", "b@example.org"]
        subjects[msg["Subject"]] = msg
    assert sorted(subjects) == ["[GSAT] %s => JOB_START" % a, "[GSAT] %s => JOB_TERMINATION" % a]
    body = subjects["[GSAT] %s => JOB_TERMINATION" % a].get_body(("plain",)).get_content()
    assert "Job exit value: 6" in body.splitlines()

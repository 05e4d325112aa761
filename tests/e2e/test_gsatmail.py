"""gsatmail (FEATURES.md §10) end to end: real certificates, messages built
as mail clients build them, the real controller, replies through a real
SMTP server on loopback, verified and decrypted here with the user's key.

* A signed job mail (each S/MIME form) is submitted and runs; the reply
  verifies against the host certificate, decrypts with the user's key,
  carries ``jobId:ID`` and is ``In-Reply-To`` the request.
* Every rejection: nothing submitted, no reply, the reason logged.
* Command mails answer with the command's output and exit value.
"""

import os
import subprocess
import sys
import time

import pytest

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)

import smime_kit  # noqa: E402
import smtp_server  # noqa: E402
from smime_kit import message  # noqa: E402
from smtp_server import smtp  # noqa: E402,F401 - the fixture
from gsatellite import pidref  # noqa: E402

# How long we keep listening to be sure a reply that should not come does not.
QUIET = 1.0


@pytest.fixture(scope="module")
def pki():
    return smime_kit.Pki()


class Mail:
    """gsatmail in the test's $HOME, set up, with replies going to ``smtp``."""

    def __init__(self, gsat, pki, smtp):  # noqa: F811
        self.gsat, self.pki, self.smtp = gsat, pki, smtp
        gsat.env.update(GSAT_SMTP_HOST=smtp_server.HOST, GSAT_SMTP_PORT=str(smtp.port))
        p = self.run(["--init"])
        assert p.returncode == 78 and b"missing" in p.stdout, p
        pki.install(gsat.g)
        p = self.run(["--init"])
        assert p.returncode == 0, p

    def run(self, args=(), data=b"", env=None):
        return subprocess.run(["gsatmail"] + list(args), input=data, capture_output=True, timeout=120,
                              env=dict(self.gsat.env, **(env or {})), cwd=self.gsat.jobs)

    def send(self, data, **env):
        p = self.run(data=data, env=env)
        assert b"Traceback" not in p.stderr, p.stderr
        return p

    def log(self):
        try:
            with open(os.path.join(self.gsat.g, "var", "log", "gsatmail.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def jobs(self):
        d = os.path.join(self.gsat.g, "gschedule", "jobs")
        return sorted(n[:-2] for n in os.listdir(d) if n.endswith(".d") and not n.startswith(".")) \
            if os.path.isdir(d) else []

    def replies(self, n):
        got = self.smtp.wait_count(n)
        time.sleep(QUIET)
        got = self.smtp.received()
        assert len(got) == n, [m["message"]["Subject"] for m in got]
        return got

    def reply_text(self, entry, who):
        return smime_kit.open_reply(entry["message"], self.pki, who)


@pytest.fixture
def mail(gsat, pki, smtp):  # noqa: F811 - the fixture
    return Mail(gsat, pki, smtp)


JOB = "#!/bin/bash\n#GSAT -N mailed\necho hello from mail\n"


@pytest.mark.parametrize("form", ["detached", "opaque", "encrypted"])
def test_signed_job_mail_is_submitted_runs_and_reply_verifies(gsat, mail, pki, form):
    gsat.start()
    data = message(pki.alice, JOB, form=form, pki=pki, subject="my job")
    p = mail.send(data)
    assert p.returncode == 0, p.stderr
    [job_id] = mail.jobs()
    assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
    assert gsat.attr(job_id, "job.name") == "mailed"
    [reply] = mail.replies(1)
    assert reply["to"] == [pki.alice.address]
    msg = reply["message"]
    assert msg.get_content_type() == "application/pkcs7-mime"  # encrypted by default
    assert msg["In-Reply-To"] == email_message_id(data)
    assert msg["Subject"] == "Re: my job"
    assert mail.reply_text(reply, pki.alice).strip() == "jobId:%s" % job_id
    # The reply cannot be read without alice's key.
    with pytest.raises(ValueError, match="No recipient"):
        mail.reply_text(reply, pki.bob)


def email_message_id(data):
    for line in data.decode().splitlines():
        if line.startswith("Message-ID: "):
            return line.split(": ", 1)[1]
    raise AssertionError("no Message-ID")


def _tampered(pki):
    data = message(pki.alice, JOB)
    assert data.count(b"echo hello from mail") == 1
    return data.replace(b"echo hello from mail", b"echo hellO from mail")


def _garbage(pki):
    return smime_kit.headers(pki.alice.address) + (
        b'MIME-Version: 1.0\nContent-Type: multipart/signed; protocol="application/pkcs7-signature";'
        b' boundary="XX"\n\n--XX\nContent-Type: text/plain\n\n#!/bin/bash\necho x\n--XX\n'
        b"Content-Type: application/pkcs7-signature\nContent-Transfer-Encoding: base64\n\n"
        b"bm90IGEgc2lnbmF0dXJl\n--XX--\n")


def _empty(pki):
    return smime_kit.headers(pki.alice.address) + smime_kit._lf(smime_kit.detached(pki.alice, b""))


REJECTIONS = {
    "unsigned": (lambda pki: smime_kit.unsigned(pki.alice.address, JOB), "not S/MIME signed"),
    "tampered": (_tampered, "signature does not verify over the content"),
    "other CA": (lambda pki: message(pki.eve, JOB), "does not chain to a trust anchor"),
    "expired": (lambda pki: message(pki.old, JOB), "expired"),
    "no email protection": (lambda pki: message(pki.noprot, JOB), "does not allow email protection"),
    "From differs": (lambda pki: message(pki.alice, JOB, sender=pki.bob.address),
                     "is not the signer's address"),
    "unregistered": (lambda pki: message(pki.carol, JOB), "not registered"),
    "too old": (lambda pki: message(pki.alice, JOB, date=time.time() - 3 * 86400), "more than mail_max_age"),
    "over size": (lambda pki: message(pki.alice, JOB + "#" * 5000 + "\n"), "more than mail_max_size"),
    "multipart garbage": (_garbage, "malformed signature"),
    "empty body": (_empty, "signed body is empty"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejected_without_submission_or_reply(gsat, mail, pki, case):
    gsat.start()
    build, reason = REJECTIONS[case]
    p = mail.send(build(pki), GSAT_MAIL_MAX_SIZE="6000")
    assert p.returncode == 0, p.stderr
    assert "rejected, removed without reply: " in mail.log() and reason in mail.log(), mail.log()
    assert mail.jobs() == []
    mail.replies(0)


def test_replayed_message_id_and_replayed_signature(gsat, mail, pki):
    gsat.start()
    first = message(pki.alice, JOB, message_id="<once@example.org>")
    assert mail.send(first).returncode == 0
    assert len(mail.jobs()) == 1
    # Another signed message under the same Message-ID.
    again = message(pki.alice, "gqstat\n", message_id="<once@example.org>")
    assert mail.send(again).returncode == 0
    assert "replayed Message-ID" in mail.log()
    # The same signed body under a new Message-ID and Date.
    head, _, body = first.partition(b"\n\n")
    forged = smime_kit.headers(pki.alice.address) + b"MIME-Version: 1.0" + first.split(b"MIME-Version: 1.0", 1)[1]
    assert mail.send(forged).returncode == 0
    assert "replayed signature" in mail.log()
    assert len(mail.jobs()) == 1
    mail.replies(1)


# -- commands ---------------------------------------------------------------------------

def test_command_mails_answer_with_output_and_exit_value(gsat, mail, pki):
    gsat.start()
    held = gsat.qsub(gsat.job("later.job", "#GSAT -a 209912312359\nexit 0\n"))
    assert mail.send(message(pki.alice, "gqstat\n")).returncode == 0
    assert mail.send(message(pki.alice, "gqhold %s\n" % held)).returncode == 0
    assert gsat.wait_state(held, "held") == "held"
    assert mail.send(message(pki.bob, "gqstat -f %s\n-- \nBob\n" % held)).returncode == 0
    assert mail.send(message(pki.alice, "gqrls 99999\n")).returncode == 0
    assert mail.send(message(pki.alice, "please run my job\n")).returncode == 0
    got = mail.replies(5)
    who = {pki.alice.address: pki.alice, pki.bob.address: pki.bob}
    texts = [mail.reply_text(m, who[m["to"][0]]) for m in got]
    table = texts[0]
    assert table.startswith("   job.state job.id ") and "\nqueued       %s " % held in table
    assert table.endswith("Exit value: 0\n")
    assert texts[1] == "Exit value: 0\n"
    assert 'job.state="held"' in texts[2] and texts[2].endswith("Exit value: 0\n")
    assert texts[3] == 'gqrls: Invalid job id "99999"!\nExit value: 1\n'
    assert texts[4].startswith("unknown command 'please'.") and "gqsig [-s SIGNAL] jobId" in texts[4]
    assert mail.jobs() == [held]


def test_unencrypted_replies_when_turned_off(gsat, mail, pki):
    assert mail.send(message(pki.alice, "gqstat\n"), GSAT_MAIL_ENCRYPT="no").returncode == 0
    [reply] = mail.replies(1)
    assert reply["message"].get_content_type() == "multipart/signed"
    assert mail.reply_text(reply, pki.alice).endswith("Exit value: 0\n")


# -- delivery: Maildir, temporary failures, crashes ----------------------------------------

def _maildir(gsat, messages):
    d = os.path.join(gsat.tmp, "Maildir")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for i, data in enumerate(messages):
        with open(os.path.join(d, "new", "%d.%d.test" % (1700000000 + i, i)), "wb") as f:
            f.write(data)
    return d


def _scripts(gsat, jobs):
    return sorted(open(os.path.join(gsat.job_dir(j), j)).read() for j in jobs)


def _batch(pki, n):
    return [message(pki.alice, "#!/bin/bash\necho job %d\n" % i) for i in range(n)]


def test_maildir_batch_leaves_nothing_in_new(gsat, mail, pki):
    gsat.start()
    d = _maildir(gsat, _batch(pki, 4) + [smime_kit.unsigned(pki.alice.address, "gqstat\n")])
    p = mail.run(["--maildir", d])
    assert p.returncode == 0, p.stderr
    assert os.listdir(os.path.join(d, "new")) == []
    assert len(os.listdir(os.path.join(d, "cur"))) == 4  # the unsigned one was removed
    assert _scripts(gsat, mail.jobs()) == sorted("#!/bin/bash\necho job %d\n" % i for i in range(4))
    ids = sorted(mail.reply_text(m, pki.alice).strip() for m in mail.replies(4))
    assert ids == sorted("jobId:%s" % j for j in mail.jobs())


@pytest.mark.parametrize("point", ["claimed:3", "submitted:2", "acted:3"])
def test_killed_mid_batch_submits_nothing_twice(gsat, mail, pki, point):
    gsat.start()
    d = _maildir(gsat, _batch(pki, 5))
    p = mail.run(["--maildir", d], env={"GSAT_TEST_GSATMAIL_KILL": point})
    assert p.returncode == -9, (p.returncode, p.stderr)
    assert os.listdir(os.path.join(d, "new"))
    p = mail.run(["--maildir", d])
    assert p.returncode == 0, p.stderr
    assert os.listdir(os.path.join(d, "new")) == []
    assert _scripts(gsat, mail.jobs()) == sorted("#!/bin/bash\necho job %d\n" % i for i in range(5))
    replies = [mail.reply_text(m, pki.alice).strip() for m in mail.smtp.wait_count(5)]
    assert set(replies) == {"jobId:%s" % j for j in mail.jobs()}


def test_temporary_failure_keeps_the_message(gsat, mail, pki):
    d = _maildir(gsat, [message(pki.alice, JOB), message(pki.alice, "gqstat\n")])
    p = mail.run(["--maildir", d])
    assert p.returncode == 75, p.stderr
    # The job waits for the controller; the gqstat needs none.
    assert len(os.listdir(os.path.join(d, "new"))) == 1
    assert "kept for another try: " + "gsatlc is not running" in mail.log()
    assert mail.send(open(os.path.join(d, "new", os.listdir(os.path.join(d, "new"))[0]), "rb").read()).returncode == 75
    gsat.start()
    assert mail.run(["--maildir", d]).returncode == 0
    assert os.listdir(os.path.join(d, "new")) == []
    assert len(mail.jobs()) == 1
    assert len(mail.replies(2)) == 2


def test_unanswered_reply_is_sent_again(gsat, mail, pki):
    gsat.start()
    port, sock = smtp_server.dead_port()
    data = message(pki.alice, JOB)
    try:
        assert mail.send(data, GSAT_SMTP_PORT=str(port)).returncode == 75
    finally:
        sock.close()
    assert "reply not sent (the request was carried out)" in mail.log()
    assert mail.send(data).returncode == 0
    [job_id] = mail.jobs()
    [reply] = mail.replies(1)
    assert mail.reply_text(reply, pki.alice).strip() == "jobId:%s" % job_id
    assert mail.send(data).returncode == 0  # delivered again: nothing more
    mail.replies(1)
    assert mail.jobs() == [job_id]


def test_unsafe_modes_keep_mail_until_fixed(gsat, mail, pki):
    key = os.path.join(gsat.g, "mail", "host.key")
    os.chmod(key, 0o644)
    p = mail.send(message(pki.alice, "gqstat\n"))
    assert p.returncode == 75
    assert p.stderr.decode() == "gsatmail: %s has mode 0644; run gsatmail --init or chmod go-rwx\n" % key
    os.chmod(os.path.join(gsat.g, "mail", "users"), 0o755)
    assert mail.run(["--init"]).returncode == 0
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert mail.send(message(pki.alice, "gqstat\n")).returncode == 0
    mail.replies(1)


def test_usage_errors(gsat):
    p = gsat.run("gsatmail", "--bogus")
    assert p.returncode == 64 and p.stderr.startswith("Usage: gsatmail")
    p = gsat.run("gsatmail", "--maildir", str(gsat.tmp))
    assert p.returncode == 66 and "not a Maildir" in p.stderr
    p = gsat.run("gsatmail", input="From: x\n\nhello\n")
    assert p.returncode == 75 and "gsatmail --init" in p.stderr and "Traceback" not in p.stderr


def test_request_unread_when_killed_is_voided_not_doubled(gsat, mail, pki, procs):
    """gsatmail is killed while its QSUB waits unread in the controller's
    inbox; the next run submits again from a new file, and the old
    request's file is gone, so the controller refuses it when it reads it
    later (a QSUB of a missing file is refused).  The "controller" here is
    a live process that never reads its inbox (a real one wakes at once)."""
    import threading

    idle = subprocess.Popen(["sleep", "300"])
    procs.append(idle)
    host = gsat.env["GSAT_HOSTNAME"] = "mailhost"
    box = os.path.join(gsat.g, "mboxes", host, "%d.inbox" % idle.pid)
    os.makedirs(box)
    with open(os.path.join(gsat.g, "gsatlcHostName"), "w") as f:
        f.write(host + "\n")
    # With its sidecar: a bare PID must name a controller's program.
    pidref.write_pid_file(os.path.join(gsat.g, "gsatlcPid"), idle.pid)
    # It passes for one of our controllers, so the job's directives are sent
    # without a CAPABILITIES? question first.
    from gsatellite import protocol as P

    with open(os.path.join(gsat.g, "gsatlcCapabilities"), "w") as f:
        f.write(P.capabilities_line(idle.pid, host) + "\n")
    stop = threading.Event()

    def keep_alive():  # the liveness rule wants a fresh gsatlcPid
        while not stop.wait(0.5):
            os.utime(os.path.join(gsat.g, "gsatlcPid"))

    def requests():
        out = []
        for n in sorted(os.listdir(box)):
            if not n.startswith("."):
                with open(os.path.join(box, n)) as f:
                    out.append(f.read())
        return out

    threading.Thread(target=keep_alive, daemon=True).start()
    data = message(pki.alice, JOB)
    try:
        for attempt in (1, 2):
            p = subprocess.Popen(["gsatmail"], stdin=subprocess.PIPE, env=gsat.env, cwd=gsat.jobs)
            procs.append(p)
            p.stdin.write(data)
            p.stdin.close()
            gsat.wait_for(lambda n=attempt: len(requests()) == n, what="QSUB number %d" % attempt)
            p.kill()
            p.wait()
    finally:
        stop.set()
    old, new = (r.split(";")[0].split(" ", 1)[1] for r in requests())
    assert old.endswith(".1.job") and new.endswith(".2.job")
    assert not os.path.exists(old) and os.path.exists(old + ".void")
    assert open(new).read() == JOB


def test_maildir_entries_that_are_no_files_are_skipped(gsat, mail, pki):
    """Broke: a FIFO in new/ hung gsatmail --maildir, a directory there
    ended it with a traceback.  Both are skipped with one line each; the
    message beside them is taken."""
    gsat.start()
    d = _maildir(gsat, _batch(pki, 1))
    os.mkfifo(os.path.join(d, "new", "1.fifo.test"))
    os.mkdir(os.path.join(d, "new", "2.dir.test"))
    p = mail.run(["--maildir", d])
    assert p.returncode == 0 and b"Traceback" not in p.stderr, p.stderr
    assert p.stderr.count(b"is not a readable regular file; skipped\n") == 2, p.stderr
    assert sorted(os.listdir(os.path.join(d, "new"))) == ["1.fifo.test", "2.dir.test"]
    assert len(os.listdir(os.path.join(d, "cur"))) == 1


def _run_briefly(mail, data):
    """gsatmail with a message; a hang fails the test in 30 s, not 120."""
    return subprocess.run(["gsatmail"], input=data, capture_output=True, timeout=30,
                          env=mail.gsat.env, cwd=mail.gsat.jobs)


def test_a_fifo_for_the_host_certificate_is_a_setup_error_not_a_hang(gsat, mail, pki):
    """Broke (found by reading): the keyring read its files with a blocking
    open, so a FIFO in the place of host.pem stopped gsatmail for good and
    the delivery agent with it."""
    cert = os.path.join(gsat.g, "mail", "host.pem")
    saved = cert + ".saved"
    os.rename(cert, saved)
    os.mkfifo(cert, 0o600)
    try:
        p = _run_briefly(mail, message(pki.alice, "gqstat\n"))
    finally:
        os.unlink(cert)
        os.rename(saved, cert)
    assert p.returncode == 75, p.stderr
    assert p.stderr.decode().splitlines() == [
        "gsatmail: host certificate or key cannot be loaded: [Errno 22] not a regular file: %r" % cert]
    assert mail.send(message(pki.alice, "gqstat\n")).returncode == 0
    mail.replies(1)


@pytest.mark.parametrize("kind", ["fifo", "loop"])
def test_what_is_no_file_in_the_journal_is_no_entry_and_no_hang(gsat, mail, pki, kind):
    """Broke (found by reading): every start prunes the journal, reading
    each entry with a blocking open: a FIFO there stopped every gsatmail;
    a symbolic link loop (the second review) kept every message (75)."""
    entry = os.path.join(gsat.g, "mail", "journal", "m-" + "0" * 48)
    if kind == "fifo":
        os.mkfifo(entry, 0o600)
    else:
        os.symlink(os.path.basename(entry), entry)
    p = _run_briefly(mail, message(pki.alice, "gqstat\n"))
    assert p.returncode == 0 and b"Traceback" not in p.stderr, p.stderr
    mail.replies(1)
    assert os.path.lexists(entry)  # not ours to remove: it is no entry


def test_what_a_killed_gsatmail_could_not_have_left_never_stops_the_prune(gsat, mail, pki):
    """Found by the third review: a directory or a symbolic link loop under
    a temporary name in the journal ended every run at its prune."""
    journal = os.path.join(gsat.g, "mail", "journal")
    os.mkdir(os.path.join(journal, ".tmp.dir"))
    os.utime(os.path.join(journal, ".tmp.dir"), (1, 1))
    os.symlink(".tmp.loop", os.path.join(journal, ".tmp.loop"))
    p = _run_briefly(mail, message(pki.alice, "gqstat\n"))
    assert p.returncode == 0 and b"Traceback" not in p.stderr, p.stderr
    mail.replies(1)

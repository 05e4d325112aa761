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

"""One message from acceptance to reply, at most once (see :mod:`.journal`).

A new message is claimed in the journal (with its signatures) before
anything is done.  A message found ``processing`` was interrupted: when
the process that claimed it is gone, a job is looked for and submitted only
if it was not (:mod:`.jobs`); a read-only command runs again; any other
command is not repeated, and the reply says it may have taken effect.  A
message found ``acted`` is answered again; ``done``, it is left alone.
The same Message-ID on other bytes is a replay and is rejected.
"""

import email
import email.policy
import email.utils
from email.header import Header
import os
import signal
import time

from .. import config, mail, paths, proc
from . import Rejected, TempFail, accept, commands, jobs, keyring, smime
from .journal import Journal
from ..protocol import digits

PROCESSING, ACTED, DONE = "processing", "acted", "done"
# After this long an entry claimed on another host is taken for abandoned.
FOREIGN_CLAIM = 3600
INTERRUPTED = ("gsatmail was interrupted while carrying out this command; it may "
               "have taken effect (see gqstat). It was not carried out again.\n")


class Processor:
    def __init__(self, log):
        self.log = log
        self.host_cert, self.host_key = keyring.host_credentials()
        self.verifier = smime.Verifier(keyring.trust_bundle(), self.host_cert, self.host_key)
        self.journal = Journal(keyring.path("journal"))
        self.journal.prune(time.time())
        self.passed = {}
        self.owner = "%s:%d" % (paths.hostname(), os.getpid())

    def close(self):
        self.verifier.close()

    def hook(self, point):
        """Test sentinel: ``GSAT_TEST_GSATMAIL_KILL=POINT[:N]`` kills this
        process with SIGKILL the N-th time it passes ``point``."""
        wanted = os.environ.get("GSAT_TEST_GSATMAIL_KILL", "")
        name, _, count = wanted.partition(":")
        if name != point:
            return
        self.passed[point] = self.passed.get(point, 0) + 1
        if self.passed[point] >= int(count or 1):
            os.kill(os.getpid(), signal.SIGKILL)

    def process(self, raw):
        """Accept, act and answer; :class:`Rejected` or :class:`TempFail`."""
        req = accept.check(raw, self.verifier)
        where = "%s from %s" % (req.message_id, req.sender)
        kind, what = commands.parse(req.body)
        entry = self._claim(req, jobs.attempt({}, req.digest) if kind == "job" else {})
        state = entry["state"]
        if state == DONE:
            self.log("%s: already answered; nothing done" % where)
            return
        if state == PROCESSING:
            self._act(req, entry, entry.pop("new", None) is None, kind, what)
            self.log("%s: accepted: %s" % (where, entry["summary"]))
        self._reply(req, entry)

    def _claim(self, req, extra):
        keep = req.date + config.get_int("mail_max_age") + accept.SKEW
        fields = {**extra, "digest": req.digest, "sender": req.sender, "owner": self.owner,
                  "since": int(time.time()), "keep_until": int(keep)}
        new = self.journal.claim(req.message_id, fields)
        entry = self.journal.get(req.message_id)
        if entry is None:
            raise TempFail("journal entry of %s vanished" % req.message_id)
        if entry.get("digest") != req.digest:
            raise Rejected("replayed Message-ID %s (seen before on another message)" % req.message_id)
        if entry["state"] == PROCESSING and not new:
            self._check_abandoned(entry)
        for signature, signed_at in req.signatures:
            until = signed_at + config.get_int("mail_max_age") + accept.SKEW if signed_at else "inf"
            if not self.journal.claim_signature(signature, req.message_id, until):
                if new:
                    self.journal.release(req.message_id)
                raise Rejected("replayed signature: this signed content came before under another Message-ID")
        if new:
            entry["new"] = "1"
        return entry

    def _check_abandoned(self, entry):
        host, _, pid = entry.get("owner", "").rpartition(":")
        if host == paths.hostname():
            if digits(pid) and int(pid) != os.getpid() and proc.alive(int(pid)):
                raise TempFail("being processed by gsatmail[%s]" % pid, keep=True)
        elif time.time() - float(entry.get("since") or 0) < FOREIGN_CLAIM:
            raise TempFail("being processed on %s" % host, keep=True)

    def _record(self, req, entry):
        self.journal.update(req.message_id, entry)

    def _act(self, req, entry, recovering, kind, what):
        if recovering:
            entry["owner"], entry["since"] = self.owner, int(time.time())
            self._record(req, entry)
        self.hook("claimed")
        try:
            if kind == "job":
                text, code = self._job(req, entry, what, recovering)
                summary = text.strip().splitlines()[-1]
            elif kind == "command":
                summary = " ".join(what)
                if recovering and what[0] not in commands.READ_ONLY:
                    text, code = INTERRUPTED, 1
                else:
                    output, code = commands.run(what)
                    text = output
                text += "Exit value: %d\n" % code
            else:
                text, code, summary = "%s.\n\n%s" % (what, commands.USAGE), 64, "usage text (%s)" % what
        except TempFail as e:
            if not e.keep:
                self.journal.release(req.message_id)
                for signature, _ in req.signatures:
                    self.journal.release_signature(signature, req.message_id)
            raise
        entry.update(state=ACTED, reply=text, exit=code, summary=summary)
        self._record(req, entry)
        self.hook("acted")

    def _job(self, req, entry, script, recovering):
        if recovering:
            found = jobs.find(entry)
            if found is None:
                jobs.void(entry)
                found = jobs.find(entry)
            if found is not None:
                return "jobId:%s\n" % found, 0
            self._record(req, jobs.attempt(entry, req.digest))
        return jobs.submit(script, entry, self.hook)

    def _reply(self, req, entry):
        recipient = req.certificate if config.get_bool("mail_encrypt") else None
        entity = smime.wrap(entry["reply"], self.host_cert, self.host_key, recipient)
        msg = email.message_from_bytes(entity, policy=email.policy.compat32)
        subject = " ".join(req.subject.split())  # unfolded: no line break reaches the header
        subject = subject if subject.lower().startswith("re:") else ("Re: " + subject).strip()
        msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
        msg["From"] = self._from()
        msg["To"] = req.sender
        msg["Date"] = email.utils.formatdate(localtime=True)
        msg["Message-ID"] = email.utils.make_msgid("gsatmail", domain=paths.hostname())
        msg["In-Reply-To"] = req.message_id
        msg["References"] = req.message_id
        try:
            mail.send(msg, [req.sender])
        except mail.MailError as e:
            raise TempFail("reply not sent (the request was carried out): %s" % e, keep=True)
        entry["state"] = DONE
        # Not synced: lost in a crash, the entry says "acted" and the reply
        # goes out once more, which is harmless.
        self.journal.update(req.message_id, entry, sync=False)

    def _from(self):
        configured = config.get("mail_from")
        if configured:
            return configured
        names = smime.addresses(self.host_cert)
        return names[0] if names else mail.sender()

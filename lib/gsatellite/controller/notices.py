"""gqwait notices for waiters on other hosts, kept until delivered (issue 17).

A FIFO does not cross hosts, so the controller asks the waiter's host's
signal forwarder to write the line (``WRITE_FIFO``) and waits for its
answer without blocking (``Daemon.ask``).  ``0``: delivered.  ``1``: the
FIFO is gone or nobody reads it, so the waiter is gone.  No answer (no
forwarder runs there, or it died with the message unread): the notice is
kept and sent again every ``RETRY`` seconds, until it is delivered, the
waiter is gone, or the waiter's host has been lost for ``host_lost_after``
seconds (its gqwait died with it).  A waiting gqwait also starts its
host's forwarder again when it is missing, so a kept notice finds one.

Kept notices live in memory, and the registration in ``job.waiters`` until
the notice is delivered or dropped: a controller that stops hands the
waiters of ended jobs to the next one, which tells them again when it
starts (:meth:`Lifecycle.recover`).  A deleted job's notice is lost with
the controller, and its gqwait finds the job gone on its own.
"""

from .. import hosts, transport, waiters
from .. import protocol as P
from ..log import log

# Seconds between two deliveries of a kept notice, and the time an answer
# from a forwarder (which looks into its box every sigfwd_poll) may take.
RETRY = 5.0
ANSWER = 10.0


class Notices:
    def __init__(self, daemon, lost_after, now):
        self.daemon = daemon
        self.lost_after = lost_after
        self.now = now
        self.kept = {}  # (job id, host, fifo, line) -> when its first delivery failed
        self.asked = set()  # (job id, host, fifo, line) under way
        self.timer = None

    def send(self, job_id, host, fifo, line):
        """Deliver ``line`` to the gqwait FIFO ``fifo`` on ``host``."""
        key = (job_id, host, fifo, line)
        if key in self.asked:
            return
        self.asked.add(key)
        try:
            address = transport.sigfwd_address(host)
        except transport.BadAddress as e:
            log("waiter %s on %s: %s; dropped" % (fifo, host, e))
            self.done(key)
            return
        self.daemon.ask(address, P.command(P.WRITE_FIFO, fifo, line),
                        lambda answer: self.answered(key, answer), ANSWER)

    def answered(self, key, answer):
        self.asked.discard(key)
        _, host, fifo, line = key
        if answer == P.WRITE_FIFO_OK:
            if key in self.kept:
                log("waiter %s on %s told %r at last" % (fifo, host, line))
            self.done(key)
            return
        if answer is not None:
            # 1: the FIFO is gone or nobody reads it.  Anything else (a
            # classic forwarder's UNKNOWN COMMAND) will not change either.
            log("waiter %s on %s is gone (%s); %r dropped" % (fifo, host, answer, line))
            self.done(key)
            return
        if key not in self.kept:
            log("the signal forwarder of %s did not take %r for %s; kept, sent again every %g s"
                % (host, line, fifo, RETRY))
            self.kept[key] = self.now()
        if self.timer is None:
            self.timer = self.daemon.call_later(RETRY, self.retry)

    def done(self, key):
        """The notice is delivered, or can never be: forget it."""
        self.asked.discard(key)
        self.kept.pop(key, None)
        job_id, host, fifo, _ = key
        try:
            waiters.remove(job_id, host, fifo)
        except OSError as e:
            log("job %s: cannot update job.waiters: %s" % (job_id, e))

    def retry(self):
        self.timer = None
        for key, since in list(self.kept.items()):
            host = key[1]
            if self.now() - since > self.lost_after and hosts.lost(host, self.lost_after):
                log("host %s lost; notice %r for %s dropped" % (host, key[3], key[2]))
                self.done(key)
                continue
            self.send(*key)

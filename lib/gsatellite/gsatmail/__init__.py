"""gsatmail: jobs and job commands by S/MIME-signed email (FEATURES.md §10).

A front end of the client library like the commands in :mod:`gsatellite.cli`:
it verifies a message (:mod:`.verify`, :mod:`.smime`), carries out what its
body asks through :mod:`gsatellite.client` (:mod:`.actions`) and answers
with a signed, encrypted reply.  Invariants:

* Nothing is done and nothing is answered for a message that is not
  accepted (:mod:`.verify`): there is no reply to a forged sender.  The
  reason is logged in ``G/var/log/gsatmail.log``.
* A message is acted on at most once, even when gsatmail is killed in the
  middle: the journal (:mod:`.journal`) records it as being processed before
  anything is done, and what was done before the reply is sent.
* A message that failed temporarily (controller not running, disk full,
  mail route down) is kept: exit value :data:`EX_TEMPFAIL` tells a mail
  delivery agent to deliver it again, and ``--maildir`` leaves it in ``new/``.
* The files under ``G/mail`` (:mod:`.keyring`) are checked at every run.
"""

EX_OK = 0
EX_USAGE = 64
EX_SOFTWARE = 70
EX_TEMPFAIL = 75
EX_CONFIG = 78


class Rejected(Exception):
    """The message is not accepted; ``reason`` is the one line logged."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class TempFail(Exception):
    """Try again later.  ``keep``: the journal entry must stay (a request
    may have been received), so the next attempt recovers instead of acting."""

    def __init__(self, message, keep=False):
        super().__init__(message)
        self.keep = keep


class SetupError(Exception):
    """``G/mail`` is missing or unsafe; every message waits until it is fixed."""

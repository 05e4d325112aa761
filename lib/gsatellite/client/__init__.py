"""The client library: typed operations on the controller and the job store.

Every front end (the commands in :mod:`gsatellite.cli`, a future email
front end) calls these functions instead of speaking the protocol itself.
Invariants:

* Nothing here prints, exits or reads ``argv``.  Results are typed values
  (:class:`Submitted` ...), failures raise a :class:`ClientError` with a
  one-line message and the command's exit code; warnings go to a callback.
* No module state: every call stands alone, so a long-lived process may make
  as many calls as it likes.
* A request that got no answer is reported for what it is: withdrawn unread
  (it can never take effect: "not submitted", "not done"), or received by
  the controller and unanswered (it may still take effect).  A submission
  the controller carried out is found in the store by the answer box it
  was sent with, so it is reported by its id even when the answer was lost.
* Job files are read only through :mod:`gsatellite.job`.
"""

from .errors import (  # noqa: F401
    ClientError, NotRunning, InvalidJobId, UnknownState, BadJobFile, WrongState, NotHeld,
    Refused, NoAnswer, Unreachable, JobDeleted, TimedOut,
)
from .operations import (  # noqa: F401
    controller, exchange, find_job, hold, release, delete, signal_job, status,
    ended_jobs, remove_ended,
)

# Submission and watching are imported on first use: most commands need
# only one of them, and every module costs start-up time.
_LAZY = {
    "submit": "submission", "check_job_file": "submission", "Submitted": "submission",
    "Failed": "submission", "NotSubmitted": "submission", "Unconfirmed": "submission",
    "trigger": "triggering",
    "wait": "watch", "Peek": "watch", "verdict": "watch", "tail_bytes": "watch",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    import importlib

    return getattr(importlib.import_module("." + module, __name__), name)

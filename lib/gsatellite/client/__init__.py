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
# Everything else is imported on first use: gqstat needs only the store
# (no transport), most commands need only one kind of operation, and every
# module costs start-up time.
_LAZY = {
    "find_job": "listing", "status": "listing", "table": "listing", "ended_jobs": "listing",
    "controller": "operations", "exchange": "operations", "hold": "operations",
    "release": "operations", "delete": "operations", "signal_job": "operations",
    "remove_ended": "operations", "operations": None,
    "submit": "submission", "check_job_file": "submission", "Submitted": "submission",
    "Failed": "submission", "NotSubmitted": "submission", "Unconfirmed": "submission",
    "trigger": "triggering",
    "wait": "watch", "Peek": "watch", "verdict": "watch", "tail_bytes": "watch",
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    import sys

    module = _LAZY[name]
    full = "%s.%s" % (__name__, module or name)
    # __import__, not importlib (a module more at every command's start).
    __import__(full)
    if module is None:  # a submodule itself
        return sys.modules[full]
    return getattr(sys.modules[full], name)

"""Job types as plug-ins (PROTOCOL.md §5).

A job type is a module in this package with:

* ``HOLD_SIGNAL``: the signal sent to the job's process group on hold,
* ``evaluate(exit_value) -> protocol.RESTART | protocol.TERMINATE``,
* ``environment() -> dict``: extra variables for ``job.env``.
* optional ``RERUN_ON_HOST_LOSS``: True when a job that ran on a host that
  was lost (issue 17) may run again (it is queued again, counted as a
  restart); otherwise it fails with the reason ``host HOST lost``.

Adding a job type is adding one module here; nothing else changes.
"""

import os
import sys

DEFAULT = "default"


_names = []  # listed once per process: the installed modules do not change


def names():
    if not _names:
        here = os.path.dirname(__file__)
        _names.extend(sorted(
            n[:-3] for n in os.listdir(here) if n.endswith(".py") and not n.startswith("_")
        ))
    return list(_names)


def is_known(name):
    return bool(name) and name.isidentifier() and name in names()


def get(name):
    """The job type module ``name``; unknown names give ``default``."""
    if not is_known(name):
        name = DEFAULT
    full = "%s.%s" % (__name__, name)
    __import__(full)  # not importlib: gqsub comes here and need not load it
    return sys.modules[full]


def runs_again(name, exit_value, restarts, max_restarts):
    """True when a job of type ``name`` whose run ended with ``exit_value``
    is run again: its type asks for it, and it has been restarted fewer
    than ``max_restarts`` times.  (The controller decides; the sputnik asks
    the same question to know whether the job has ended for good.)"""
    from ..protocol import RESTART

    return get(name).evaluate(exit_value) == RESTART and restarts < max_restarts

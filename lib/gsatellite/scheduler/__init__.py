"""Schedulers as plug-ins: which queued jobs start now.

A scheduler is a module in this package with
``pick(queued, running, slots) -> list of job ids to start``, where
``queued`` is the list of startable queued ids in id order, ``running`` the
number of running jobs and ``slots`` the ``slots`` setting.  The
configuration key ``scheduler`` names it.
"""

import importlib


class UnknownScheduler(Exception):
    pass


def get(name):
    if not name.isidentifier():
        raise UnknownScheduler(name)
    try:
        return importlib.import_module("%s.%s" % (__name__, name))
    except ImportError:
        raise UnknownScheduler(name)

"""Events: a tiny publish/subscribe inside the controller and sputnik.

``emit(name, job_id, **info)`` calls every subscriber of ``name`` (and of
``"*"``).  The classic events JOB_START and JOB_TERMINATION run the services
of PROTOCOL.md §6 through ``libexec/run-services``, in the background, once
for the system and once for the user's service directory.  A service
directory without entries costs no process at all.
"""

import os
import subprocess

from . import paths
from .log import log

_subscribers = {}


def subscribe(name, fn):
    _subscribers.setdefault(name, []).append(fn)


def emit(name, job_id, **info):
    for fn in _subscribers.get(name, []) + _subscribers.get("*", []):
        try:
            fn(name, job_id, **info)
        except Exception as e:  # a subscriber must never break the caller
            log("event %s for %s: subscriber failed: %s" % (name, job_id, e))


def service_dirs(event):
    return (paths.system_services_dir(event), paths.user_services_dir(event))


def _has_entries(d):
    try:
        with os.scandir(d) as it:
            return any(not e.name.startswith(".") for e in it)
    except OSError:
        return False


def run_services(event, env_file, exit_value=None, extra_env=None):
    """Start run-services for both service directories; never waits.

    Returns the started ``Popen`` objects (none for empty directories).
    """
    started = []
    for d in service_dirs(event):
        if not _has_entries(d):
            continue
        argv = [paths.run_services(), event, env_file, d]
        if exit_value is not None:
            argv.append(str(exit_value))
        env = dict(os.environ)
        env.update(extra_env or {})
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                preexec_fn=_unblock,
            )
            started.append(proc)
        except OSError as e:
            log("cannot run services for %s in %s: %s" % (event, d, e))
    return started


def _unblock():
    import signal

    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for s in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(s, signal.SIG_DFL)

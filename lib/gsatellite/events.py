"""Job events: their names (defined here, once), the bus, and the services.

The controller owns one :class:`Bus`.  The job store emits on it with every
state transition (:meth:`JobStore.transition`), the controller's handlers
emit what is not a state change (JOB_START).  Per-job mail, gqwait waiters
and the services of PROTOCOL.md §6 subscribe (``controller/subscribers.py``);
nothing calls them directly.

=================  ===========================================================
event              meaning and its keyword arguments
=================  ===========================================================
JOB_STATE          a job's state changed: ``old``, ``new``.  At recovery a
                   final state with subscribers that may have missed it is
                   announced again, with ``old == new``.
JOB_START          the job's supervisor reported that the job started.
JOB_TERMINATION    the job's process ended: ``exit_value``; ``restart`` when
                   its job type runs it again; ``recovered`` when a
                   controller found the end at start-up (no report came).
JOB_ABORT          the job will not run (on): ``reason`` (a dependency that
                   can never be met, held while running).
JOB_DELETED        the job is about to be removed (its files still exist).
STAGE_OUT_FAILED   the job has ended for good and files of its stage-out
                   (``-O``) were not copied: ``failures`` (one line per
                   file), ``reason`` (the same, joined).  Emitted before
                   the final JOB_TERMINATION; runs services (with
                   :func:`staging.service_env`) and mails ``-m a``.
PROXY_EXPIRING     the X.509 proxy of a job that has not ended ends soon, or
                   has ended (controller/proxywatch.py): ``proxy_file``,
                   ``not_after`` (epoch), ``seconds_left``, ``reason``;
                   ``held`` when the job was held for it instead of started.
=================  ===========================================================

The classic events JOB_START and JOB_TERMINATION run the services through
``libexec/run-services``, in the background, once for the system and once
for the user's service directory.  A service directory without entries
costs no process at all.
"""

import os

from . import paths
from .log import log

JOB_STATE = "JOB_STATE"
JOB_START = "JOB_START"
JOB_TERMINATION = "JOB_TERMINATION"
JOB_ABORT = "JOB_ABORT"
JOB_DELETED = "JOB_DELETED"
# Small-file stage out (staging.py).
STAGE_OUT_FAILED = "STAGE_OUT_FAILED"
# FEATURES.md §8: a job's X.509 proxy ends soon (controller/proxywatch.py).
PROXY_EXPIRING = "PROXY_EXPIRING"
NAMES = (JOB_STATE, JOB_START, JOB_TERMINATION, JOB_ABORT, JOB_DELETED, STAGE_OUT_FAILED,
         PROXY_EXPIRING)
# Events that run services (PROTOCOL.md §6).
SERVICE_EVENTS = (JOB_START, JOB_TERMINATION)


class Bus:
    """Subscribers by event name; ``emit`` calls them in subscription order."""

    def __init__(self):
        self._subscribers = {}

    def subscribe(self, name, fn):
        if name not in NAMES:
            raise ValueError("unknown event %r" % name)
        self._subscribers.setdefault(name, []).append(fn)

    def emit(self, name, job_id, **info):
        if name not in NAMES:
            raise ValueError("unknown event %r" % name)
        for fn in self._subscribers.get(name, ()):
            try:
                fn(name, job_id, **info)
            except Exception as e:  # a subscriber must never break the caller
                log("event %s for %s: subscriber failed: %s" % (name, job_id, e))


def job_services(event, job_id, exit_value=None, recovered=False, **_):
    """Subscriber: run the services of JOB_START / JOB_TERMINATION.

    As the classic controller, services run when the supervisor reports;
    an end found at recovery was never reported and runs none.
    """
    if recovered:
        return []
    return run_services(event, paths.job_file(job_id, "job.env"), exit_value)


def proxy_services(event, job_id, proxy_file, not_after, seconds_left, reason=None, held=False, **_):
    """Subscriber: run the services of PROXY_EXPIRING for one job, with
    ``GSAT_PROXY_FILE``, ``GSAT_PROXY_NOT_AFTER`` (ISO 8601, UTC),
    ``GSAT_PROXY_SECONDS_LEFT``, ``GSAT_PROXY_HELD`` (yes/no) and
    ``GSAT_REASON`` besides the job's environment.  A job that never ran
    has no ``job.env`` yet: ``GSAT_O_JOBID`` is given here as well."""
    from . import proxy

    extra = proxy.service_environment(proxy_file, not_after, not_after - seconds_left)
    extra.update({"GSAT_O_JOBID": job_id, "GSAT_PROXY_HELD": "yes" if held else "no", "GSAT_REASON": reason or ""})
    return run_services(event, paths.job_file(job_id, "job.env"), extra_env=extra)


def service_dirs(event):
    return (paths.system_services_dir(event), paths.user_services_dir(event))


def _entries(d):
    try:
        with os.scandir(d) as it:
            return {e.name for e in it if not e.name.startswith(".")}
    except OSError:
        return set()


def _worth_running(d):
    """False for a directory whose services would do nothing: empty, or the
    system directory holding only the shipped ``mail`` service while that
    service would send nothing (turned off, or no way to mail).  Each run
    costs a shell and an interpreter per job start and end."""
    names = _entries(d)
    if not names:
        return False
    if names == {"mail"} and d in (paths.system_services_dir(JOB_START),
                                   paths.system_services_dir(JOB_TERMINATION)):
        from . import mail

        return mail.service_would_send()
    return True


def run_services(event, env_file, exit_value=None, extra_env=None):
    """Start run-services for both service directories; never waits.

    Returns the started ``Popen`` objects (none for empty directories).
    """
    # Imported here: the job store imports this module for the event names,
    # and clients import the job store.
    import subprocess

    started = []
    for d in service_dirs(event):
        if not _worth_running(d):
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
    from .proc import reset_signals

    reset_signals()

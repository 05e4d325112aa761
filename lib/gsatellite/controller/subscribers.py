"""What reacts to job events in the controller (:mod:`events`).

* the log: one line per state change;
* the scheduler's set of jobs free of start conditions: a job leaves it
  with the queue;
* gqwait waiters: told when their job reaches a final state or is deleted;
* services: run-services for JOB_START, JOB_TERMINATION and PROXY_EXPIRING,
  and for STAGE_OUT_FAILED (with what was not staged out);
* per-job mail (``-m``/``-M``): sent from a detached child, so a slow or dead
  mail server never holds up the controller.
"""

from .. import events, paths, states, waiters
from .. import protocol as P
from ..fsutil import read_first_line
from ..log import log

# The -m letter of each event that can call for a per-job mail.
MAIL_POINTS = {events.JOB_START: "b", events.JOB_TERMINATION: "e", events.JOB_ABORT: "a",
               events.STAGE_OUT_FAILED: "a",
               # A proxy about to end: the job is about to fail, or held.
               events.PROXY_EXPIRING: "a"}


def notice_kind(event, points, exit_value=None, restart=False):
    """The per-job mail (its event name) that ``event`` calls for under the
    job's mail points, or None.  A failed end is an abort for ``-m a``."""
    if not points or points == "n" or restart:
        return None
    if event == events.JOB_TERMINATION and exit_value and "a" in points:
        return events.JOB_ABORT
    return event if MAIL_POINTS.get(event, "-") in points else None


def stage_out_services(event, job_id, failures=(), **_):
    """STAGE_OUT_FAILED runs the services of ``onSTAGE_OUT_FAILED`` with the
    job's environment and what was not copied (docs/staging.md)."""
    from .. import staging

    return events.run_services(event, paths.job_file(job_id, "job.env"),
                               extra_env=staging.service_env(job_id, failures))


def wire(controller):
    """Subscribe everything to ``controller.bus``."""
    bus = controller.bus

    def log_state(event, job_id, old, new):
        if old != new:
            log("job %s: %s -> %s" % (job_id, old, new))

    def tell_waiters(event, job_id, new=None, **_):
        if event == events.JOB_DELETED:
            waiters.notify(job_id, P.DELETED, controller.host, controller.notices.send)
        elif new in states.ENDED:
            waiters.notify(job_id, lambda: controller.exit_value(job_id), controller.host,
                           controller.notices.send)

    def mail_notice(event, job_id, exit_value=None, reason=None, restart=False, **_):
        points = read_first_line(paths.job_file(job_id, "job.mailPoints"), "")
        kind = notice_kind(event, points, exit_value, restart)
        if kind is None:
            return
        from .. import config, mail

        def send():
            try:
                mail.notify(job_id, kind, exit_value, reason)
                log("job %s: %s mail sent" % (job_id, kind))
            except (mail.MailError, config.ConfigError) as e:
                log("job %s: %s mail not delivered: %s" % (job_id, kind, e))

        controller.system.spawn(send)

    def left_queue(event, job_id, old=None, new=None):
        # Its conditions are read again should it come back (a stored
        # condition may have been written by hand meanwhile).
        if old == states.QUEUED and new != states.QUEUED:
            controller.unconditional.discard(job_id)

    bus.subscribe(events.JOB_STATE, log_state)
    bus.subscribe(events.JOB_STATE, left_queue)
    bus.subscribe(events.JOB_STATE, tell_waiters)
    bus.subscribe(events.JOB_DELETED, tell_waiters)
    for event in events.SERVICE_EVENTS:
        bus.subscribe(event, events.job_services)
    bus.subscribe(events.STAGE_OUT_FAILED, stage_out_services)
    bus.subscribe(events.PROXY_EXPIRING, events.proxy_services)
    for event in MAIL_POINTS:
        bus.subscribe(event, mail_notice)

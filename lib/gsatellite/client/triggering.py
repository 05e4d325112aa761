"""Triggering a user event inside a running job (``trigger``).

The job's sputnik runs the services, so the controller is not involved.  A
job started by a classic gsatlc is supervised by a classic sputnik, which
answers ``TRIGGER`` with ``UNKNOWN COMMAND`` and runs nothing: that is
reported as such, never as a service failure.
"""

from .. import paths, states, transport
from .. import protocol as P
from ..transport import request
from ..triggers import encode_args
from .errors import EX_USAGE, ClientError
from .listing import find_job


def trigger(text, name, args=(), wait=False):
    """Run the services of event ``name`` (checked by the caller) for the
    running job ``text``; with ``wait`` until they ended.  Returns None;
    raises :class:`ClientError`."""
    view = find_job(text)
    if view.state != states.RUNNING:
        raise ClientError("job %s is not running" % view.id)
    spid, host = view.sputnik_pid, (view.exec_host or "").split("\n", 1)[0]
    if spid is None or not host:
        raise ClientError("job %s has no supervisor to run the services" % view.id)
    try:
        box = transport.process_address(spid, host)
    except transport.BadAddress:
        raise ClientError("job %s names an invalid execution host %r" % (view.id, host))
    # The job's id goes along: a sputnik that ended the job may already
    # supervise the next one, under the same PID.  A sputnik that does not
    # know the verb (an earlier gsatellite's, or classic) is asked without.
    verb = P.JOB_TRIGGER_WAIT if wait else P.JOB_TRIGGER
    alive = _supervisor_alive(view.id, spid, box, host)
    answer = _send(box, "%s %s %s %s" % (verb, view.id, name, encode_args(args)), wait, alive)
    if answer == P.UNKNOWN:
        verb = P.TRIGGER_WAIT if wait else P.TRIGGER
        answer = _send(box, "%s %s %s" % (verb, name, encode_args(args)), wait, alive)
    if answer == P.OK:
        return
    if answer == P.FAILED:
        raise ClientError("a service of event %s failed" % name)
    if answer == P.UNKNOWN:
        raise ClientError("job %s runs under a classic sputnik (started by a classic gsatlc), which does not "
                          "know triggered events; no service of %s was run" % (view.id, name))
    raise ClientError(answer)


def _supervisor_alive(job_id, spid, box, host):
    """Whether the sputnik ``spid`` we ask still lives: its inbox is there
    and, on this host, the process the job's ``sputnik.pid`` named when we
    asked still runs (a sputnik killed with ``kill -9`` leaves its inbox
    behind, and ``--wait`` has no time limit).  That very process, by its
    start time: a job held and released, or restarted, gets a new sputnik
    while the one we asked still runs our services.  From another host
    only the inbox can tell."""
    asked, gone = None, False
    if host == paths.hostname():
        from .. import pidref

        ref = pidref.read_pid_file(paths.job_file(job_id, "sputnik.pid"), pidref.SPUTNIK)
        if ref is None:
            # No sputnik of the job runs (killed with kill -9, its inbox
            # left behind; with no controller, nobody sweeps it): the
            # request is not even sent.
            gone = True
        elif ref.pid == spid:
            asked = ref

    def alive():
        return not gone and transport.exists(box) and (asked is None or asked.alive())

    return alive


def _send(box, command, wait, alive):
    try:
        return request.request(box, command.rstrip(), timeout=float("inf") if wait else None, alive=alive)
    except request.TooLarge as e:
        # The sputnik would drop the message unanswered (and --wait would
        # wait for ever): refused before it is sent.
        raise ClientError("event arguments too large: %s" % e, EX_USAGE)

"""Requests to the controller and operations on existing jobs.

A request that got no answer is reported for what it is (see
:func:`exchange`): withdrawn unread, so it never takes effect, or received
and unanswered, so it may still take effect.
"""


from .. import config, liveness, paths, states
from .. import protocol as P
from .. import transport
from ..transport import request
from .errors import (EX_INTERRUPTED, EX_UNAVAILABLE, EX_USAGE, ClientError, NoAnswer, NotHeld, NotRunning, Refused, Unreachable, WrongState)

POLL = 0.05


# What became of a request that got no answer.
WITHDRAWN = "withdrawn"      # taken back unread: it never takes effect
UNANSWERED = "unanswered"    # read by the controller (or not known to be unread)


def controller():
    """``(host, pid)`` of the live controller; :class:`NotRunning` otherwise."""
    info = liveness.controller()
    if info is None:
        raise NotRunning()
    return info


def capabilities(info):
    """What the controller ``info`` understands beyond the classic protocol
    (``protocol.CONTROLLER_CAPABILITIES``); empty for a classic controller.

    Costs one file read for a Python controller: it names itself in
    ``gsatlcCapabilities``.  Only when that file does not name ``info``
    (not visible yet to an NFS client, or removed) is the controller asked
    ``CAPABILITIES?``, which a classic controller answers ``UNKNOWN COMMAND``.
    """
    from ..fsutil import read_first_line

    found = P.parse_capabilities_line(read_first_line(paths.gsatlc_capabilities_file(), ""), info[1], info[0])
    if found is not None:
        return found
    answer = _ask(info, P.CAPABILITIES)
    return frozenset() if answer == P.UNKNOWN else frozenset(answer.split())


def classic_controller(info, what):
    """The refusal for ``what`` (e.g. "gqsub's option -N") that a controller
    without the needed capability cannot carry."""
    return ClientError("the running gsatlc (PID %d on %s, a classic one) does not understand %s"
                       % (info[1], info[0], what))


def _alive_check(info):
    here = paths.hostname()

    def alive():
        if info[0] == here:
            from .. import proc  # only once an answer is late

            return proc.alive(info[1])
        return liveness.controller() == info

    return alive


def who(info):
    """The controller ``info`` as messages name it: ``gsatlc (PID 7 on HOST)``."""
    return "gsatlc (PID %d on %s)" % (info[1], info[0]) if info else "gsatlc"


def _why(error, info=None):
    """Why a request ended without all answers, as the start of a message:
    it names the process that did not answer, the controller or, when a
    wake-up for it was left unread, the signal forwarder of its host."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, request.AnswerTimeout):
        why = "no answer from %s within %s s (answer_timeout)" % (who(info), config.get("answer_timeout"))
    else:
        why = "%s went away without answering" % who(info)
    silent = getattr(error, "silent", None)
    if silent is not None:
        why = "%s; %s did not pass on the wake-up" % (why, silent)
    return why + _host_silence(info)


def _host_silence(info):
    """``; HOST has shown no sign of life for N s`` when the controller's
    host (another one) has stopped beating, else ""."""
    if not info or info[0] == paths.hostname():
        return ""
    from .. import hosts

    # It beats every liveness_interval (its forwarder, its controller).
    age = hosts.age(info[0])
    return "" if age is None or age <= 2 * config.get_float("liveness_interval") else \
        "; %s has shown no sign of life for %d s" % (info[0], age)


def heal_forwarder(info, wait=False):
    """A controller on another host answers through this host's signal
    forwarder: start it if it is not running (killed, or never started
    here).  ``wait``: until it serves (gqwait's notice needs it)."""
    if info[0] == paths.hostname():
        return
    from .. import sigfwd

    try:
        sigfwd.ensure_running(wait=wait)
    except (RuntimeError, OSError):
        pass  # the answer inbox is polled anyway; only gqwait's notice waits


def exchange(info, commands, alive=None, timeout=None):
    """Send ``commands`` to the controller ``info``.

    Returns ``(outcomes, boxes, error)``: one outcome per command, its answer
    or :data:`WITHDRAWN` or :data:`UNANSWERED`; the answer box of each
    command; the exception that ended the wait (None when all answered).
    """
    box = transport.process_address(info[1], info[0])
    heal_forwarder(info)
    try:
        return list(request.post(box, commands, alive=alive, timeout=timeout)), [], None
    except transport.TransportError as e:
        raise Unreachable("cannot reach gsatlc: %s" % e)
    except request.RequestError as e:
        error = e
    except KeyboardInterrupt as e:
        # The transport's RequestInterrupted carries what it withdrew.
        error = e
    answers = list(getattr(error, "answers", ()))
    unread = getattr(error, "unread", ())
    boxes = list(getattr(error, "boxes", ()))
    if not boxes and not isinstance(error, KeyboardInterrupt):
        raise Unreachable("cannot reach gsatlc: %s" % error)
    if len(answers) == len(commands):
        # The last answers arrived while the transport gave up.
        return answers, boxes, None
    # Never sent (no answer box yet) or withdrawn unread: never takes effect.
    unread = set(unread or ()) | set(range(len(boxes), len(commands)))
    outcomes = answers + [WITHDRAWN if i in unread else UNANSWERED
                          for i in range(len(answers), len(commands))]
    return outcomes, boxes, error


def _no_answer(verb, outcome, error, info=None):
    why = _why(error, info)
    code = EX_INTERRUPTED if isinstance(error, KeyboardInterrupt) else EX_UNAVAILABLE
    if outcome == WITHDRAWN:
        return NoAnswer("%s; %s not done." % (why, verb.lower()), True, code)
    later = "may still take effect" if isinstance(error, request.AnswerTimeout) else "may have taken effect"
    return NoAnswer("%s; gsatlc received the %s request, which %s." % (why, verb.lower(), later), False, code)


def _ask(info, verb, *args):
    """One request; the answer text, or :class:`NoAnswer`."""
    outcomes, _, error = exchange(info, [P.command(verb, *args)], alive=_alive_check(info))
    if error is not None:
        raise _no_answer(verb, outcomes[0], error, info)
    return outcomes[0]


def _job_request(verb, text, check=None, *args):
    from .listing import find_job  # the job views: not on gqsub's path

    info = controller()
    target = find_job(text)
    if check is not None:
        check(target)
    answer = _ask(info, verb, *(args + (target.id,)))
    if answer != P.OK:
        raise Refused(verb, answer)
    return target.id


# -- job operations ---------------------------------------------------------------------

def hold(text):
    """Hold job ``text``; returns its id."""
    return _job_request(P.QHOLD, text)


def release(text):
    """Release held job ``text``; returns its id."""
    def held(target):
        if target.state != states.HELD:
            raise NotHeld(text)

    return _job_request(P.QRLS, text, held)


def delete(text):
    """Remove job ``text`` (not while it runs); returns its id."""
    def not_running(target):
        if target.state == states.RUNNING:
            raise WrongState("Cannot remove a running job! Try to hold the job first.")

    return _job_request(P.QDEL, text, not_running)


def signal_job(text, sig="SIGTERM"):
    """Send ``sig`` (a name such as USR1 or a number) to running job ``text``."""
    from ..transport import wake

    try:
        signo = wake.signal_number(sig)
    except ValueError:
        raise ClientError('Unknown signal "%s"!' % sig, EX_USAGE)

    def running(target):
        if target.state != states.RUNNING:
            raise WrongState('Job "%s" is not running!' % text)

    return _job_request(P.QSIG, text, running, wake.signal_name(signo))


def remove_ended(job_ids):
    """Remove ended jobs: through the controller when it runs (the store's
    single writer), else directly.  Raises :class:`ClientError` naming the
    jobs that could not be removed."""
    if not job_ids:
        return
    info = liveness.controller()
    if info is None:
        from ..jobstore import JobStore

        store = JobStore()
        for job_id in job_ids:
            store.remove(job_id)
        return
    outcomes, _, error = exchange(info, [P.command(P.QDEL, j) for j in job_ids], alive=_alive_check(info))
    failed = [j for j, a in zip(job_ids, outcomes) if a != P.OK]
    if error is not None and failed:
        raise _no_answer(P.QDEL, UNANSWERED if UNANSWERED in outcomes else WITHDRAWN, error, info)
    if failed:
        raise ClientError("could not remove: %s" % " ".join(failed))

"""Submitting jobs, crash-safe: every job is reported as submitted (with its
id), refused, not submitted, or received and unconfirmed, never both
submitted and failed, nor neither."""

import os
import time

from .. import config, job
from .. import protocol as P
from ..transport import request
from .errors import EX_FAIL, EX_INTERRUPTED, EX_UNAVAILABLE, BadJobFile, ClientError
from .operations import UNANSWERED, WITHDRAWN, POLL, _alive_check, _why, controller, exchange
from ..protocol import digits



class Result:
    """What became of one job file; ``message`` is None for a submitted job."""

    __slots__ = ("job_file", "detail", "exit_code")
    message = None

    def __init__(self, job_file, detail, exit_code=EX_FAIL):
        self.job_file, self.detail, self.exit_code = job_file, detail, exit_code

    def __eq__(self, other):
        return type(other) is type(self) and (self.job_file, self.detail) == (other.job_file, other.detail)

    def __repr__(self):
        return "%s(%r, %r)" % (type(self).__name__, self.job_file, self.detail)


class Submitted(Result):
    """Queued as ``job_id``."""

    def __init__(self, job_file, job_id):
        super().__init__(job_file, job_id, 0)

    @property
    def job_id(self):
        return self.detail


class Failed(Result):
    """The controller refused the job; ``answer`` is its answer."""

    @property
    def answer(self):
        return self.detail

    @property
    def message(self):
        return "qsub failed! (%s)" % self.job_file


class NotSubmitted(Result):
    """Not queued and never will be; ``why`` says what happened."""

    @property
    def why(self):
        return self.detail

    @property
    def message(self):
        return "%s; %s not submitted." % (self.detail, self.job_file)


class Unconfirmed(Result):
    """Received by the controller, unanswered: it may still be queued."""

    @property
    def why(self):
        return self.detail

    @property
    def message(self):
        return "%s; gsatlc received %s, which may still be submitted (see gqstat)." % (self.detail, self.job_file)


def check_job_file(path):
    """Why ``path`` cannot be submitted, or None."""
    if ";" in path or "\n" in path:
        return 'Job path "%s" contains ";" or a newline, which the message protocol cannot carry.' % path.replace("\n", "\\n")
    if not os.path.lexists(path):
        return 'Job "%s" not existing!' % path
    if os.path.isdir(path):
        return 'Job "%s" is a directory!' % path
    if not os.path.isfile(path):
        return 'Job "%s" is not a regular file!' % path
    if not os.access(path, os.R_OK):
        return 'Job "%s" is not readable!' % path
    from .. import config

    limit = config.get_int("max_job_size")
    size = os.path.getsize(path)
    if size > limit:
        return 'Job "%s" is %d bytes, more than max_job_size (%d); nothing submitted.' % (path, size, limit)
    return None


def _staging(path, opts, cwd):
    """``(inputs, outputs)`` of one job file: the checked stage-in entries
    ``[(source, NAME)]`` and the stage-out values ``["FILE:DEST"]``;
    :class:`BadJobFile` for an input that cannot be staged."""
    if "-i" not in opts and "-O" not in opts:
        return [], []
    from .. import staging

    try:
        inputs = [staging.parse_in(value, cwd) for value in opts.get("-i", ())]
        staging.check_inputs(inputs, opts.get("-N") or os.path.basename(path), *staging.limits())
        outputs = ["%s:%s" % pair for pair in staging.requests(opts.get("-O", ()), cwd)]
    except staging.StageError as e:
        raise BadJobFile("%s: %s; nothing submitted." % (path, e))
    return inputs, outputs


def _check_proxy(path, opts):
    """:class:`BadJobFile` unless the job's ``--proxy`` file can be used
    (here; the controller checks it again where the job will run)."""
    from .. import directives

    if directives.PROXY not in opts:
        return
    from .. import proxy

    try:
        proxy.check_file(opts[directives.PROXY])
    except proxy.ProxyError as e:
        raise BadJobFile("%s: %s; nothing submitted." % (path, e))


def _commands(job_files, overrides, cwd, warn):
    """``(jobs, given, from_scripts)``: per job file ``(path, options for
    its QSUB, stage-in entries)``, gqsub's checked options, and per file the
    options its directives set besides ``-T``; :class:`BadJobFile` if any
    is bad."""
    from .. import directives

    try:
        given = directives.options([], cwd, overrides)
    except directives.DirectiveError as e:
        raise BadJobFile("%s; nothing submitted." % e)
    from_scripts, jobs = {}, []
    for path in job_files:
        problem = check_job_file(path)
        if problem:
            raise BadJobFile(problem)
        try:
            opts = directives.options(directives.scan(path), os.path.dirname(path), given,
                                      warn=lambda text, path=path: warn(path, text))
        except directives.DirectiveError as e:
            raise BadJobFile("%s: %s; nothing submitted." % (path, e))
        if "-W" in opts:
            from ..conditions import parse_depend

            for _, ids in parse_depend("depend=" + opts["-W"]):
                for dep in ids:
                    if job.find(dep) is None:
                        raise BadJobFile("dependency on unknown job %s; nothing submitted." % dep)
        from_scripts[path] = {k: v for k, v in opts.items() if k not in given and k != "-T"}
        _check_proxy(path, opts)
        inputs, outputs = _staging(path, opts, cwd)
        wire = {k: v for k, v in given.items() if k not in directives.REPEATABLE}
        if outputs:
            wire["-O"] = outputs
        jobs.append((path, wire, inputs))
    return jobs, given, from_scripts


def _command(wire, path):
    from .. import directives

    return (P.command(P.QSUB, directives.encode(wire), "-- ") if wire else P.QSUB + " ") + path


def _upload(jobs):
    """Put each job's inputs in the stage-in spool (after every check
    passed); returns ``(commands, tokens)``."""
    commands, tokens = [], []
    for path, wire, inputs in jobs:
        if inputs:
            from .. import staging

            try:
                token = staging.upload(inputs, *staging.limits())
            except staging.StageError as e:
                for t in tokens:
                    staging.discard(t)
                raise BadJobFile("%s: %s; nothing submitted." % (path, e))
            tokens.append(token)
            wire = dict(wire, **{"-i": [token]})
        commands.append(_command(wire, path))
    return commands, tokens


def _check_controller(info, given, from_scripts, warn):
    """Refuse what a controller without the extended QSUB would misread or
    silently drop: gqsub's options (the classic controller takes the request
    for a job path), a script's start condition (-a, -W: the job would
    start at once), its stage in/out (-i, -O; also refused by a Python
    controller older than stage-in/out) and its proxy (--proxy; also
    refused by a Python controller older than it).  The other directives it ignores,
    as it always did: a warning.  Plain ``gqsub FILE...`` never gets here."""
    if not given and not any(from_scripts.values()):
        return
    from .operations import capabilities, classic_controller

    known = capabilities(info)

    def used(*options):
        return [o for o in options if o in given or any(o in opts for opts in from_scripts.values())]

    staged = used("-i", "-O")
    if staged and P.QSUB_OPTIONS in known and P.STAGE not in known:
        raise ClientError("the running gsatlc (PID %d on %s) cannot stage files (%s); nothing submitted "
                          "(stop it and start this installation's gsatlcd)" % (info[1], info[0], " and ".join(staged)))
    if used("--proxy") and P.QSUB_OPTIONS in known and P.PROXY not in known:
        raise ClientError("the running gsatlc (PID %d on %s) does not know --proxy; nothing submitted "
                          "(stop it and start this installation's gsatlcd)" % (info[1], info[0]))
    if P.QSUB_OPTIONS in known:
        return
    if given:
        raise classic_controller(info, "gqsub's option%s %s; nothing submitted (submit without options, "
                                 "or run this installation's gsatlc)"
                                 % ("s" if len(given) > 1 else "", ", ".join(sorted(given))))
    for path, opts in from_scripts.items():
        for option in ("-a", "-W"):
            if option in opts:
                raise classic_controller(info, "'#GSAT %s %s' in %s and would start the job at once; "
                                         "nothing submitted" % (option, opts[option], path))
        for option in ("-i", "-O"):
            if option in opts:
                raise classic_controller(info, "'#GSAT %s %s' in %s and would not stage the file; "
                                         "nothing submitted" % (option, opts[option][0], path))
        if "--proxy" in opts:
            raise classic_controller(info, "'#GSAT --proxy %s' in %s and would run the job with another "
                                     "proxy; nothing submitted" % (opts["--proxy"], path))
        for option in sorted(opts):
            warn(path, "'#GSAT %s %s' ignored: the running gsatlc is a classic one" % (option, opts[option]))


def submit(job_files, overrides=None, cwd=None, warn=None, settle=None):
    """Submit ``job_files`` (with gqsub ``overrides`` such as ``{"-N": name}``).

    All files are checked first; a bad one raises :class:`BadJobFile` and
    nothing is queued.  Returns one result per file, in order:
    :class:`Submitted`, :class:`Failed`, :class:`NotSubmitted` or
    :class:`Unconfirmed`.  ``warn(job_file, text)`` receives directive
    warnings, and ``warn(None, text)`` each service that will be refused
    when the jobs start (it does not stop the submission).  When the controller received a job but gave no answer, the
    store is watched for it while the controller lives, up to ``settle``
    seconds (default: ``answer_timeout``).
    """
    cwd = cwd or os.getcwd()
    job_files = [p if p.startswith("/") else os.path.join(cwd, p) for p in job_files]
    info = controller()
    warn = warn or (lambda path, text: None)
    jobs, given, from_scripts = _commands(job_files, overrides or {}, cwd, warn)
    _check_controller(info, given, from_scripts, warn)
    from .. import services

    for refusal in services.refusals():
        warn(None, refusal)
    commands, tokens = _upload(jobs)
    try:
        return _exchange(info, job_files, commands, settle)
    finally:
        if tokens:
            from .. import staging

            # What the controller took is no longer there; what it did not
            # take (a refused or withdrawn request) must not stay.
            for token in tokens:
                staging.discard(token)


def _exchange(info, job_files, commands, settle):
    first = job.next_id()
    alive = _alive_check(info)
    try:
        outcomes, boxes, error = exchange(info, commands, alive=alive)
    except request.TooLarge as e:
        # Refused before anything was sent: the controller would drop it.
        raise BadJobFile("job path and options too large: %s; nothing submitted." % e)
    if error is None:
        return [Submitted(f, a) if digits(a) else Failed(f, a) for f, a in zip(job_files, outcomes)]
    pending = {boxes[i]: i for i, o in enumerate(outcomes) if o == UNANSWERED and i < len(boxes)}
    found = job.by_submit_box(pending, first)
    if isinstance(error, request.AnswerTimeout):
        settle = config.get_float("answer_timeout") if settle is None else settle
        deadline = time.monotonic() + settle
        while len(found) < len(pending) and time.monotonic() < deadline and alive():
            time.sleep(POLL)
            found = job.by_submit_box(pending, first)
    why = _why(error, info)
    code = EX_INTERRUPTED if isinstance(error, KeyboardInterrupt) else EX_UNAVAILABLE
    gone = not isinstance(error, (request.AnswerTimeout, KeyboardInterrupt)) and not alive()
    results = []
    for i, (path, outcome) in enumerate(zip(job_files, outcomes)):
        box = boxes[i] if i < len(boxes) else None
        if outcome not in (WITHDRAWN, UNANSWERED):
            results.append(Submitted(path, outcome) if digits(outcome) else Failed(path, outcome))
        elif box in found:
            results.append(Submitted(path, found[box]))
        elif outcome == WITHDRAWN or gone:
            # A dead controller's unfinished submission is discarded when
            # the next one starts (JobStore.reconcile), so it never runs.
            results.append(NotSubmitted(path, why, code))
        else:
            results.append(Unconfirmed(path, why, code))
    return results



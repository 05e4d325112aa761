"""Submitting jobs, crash-safe: every job is reported as submitted (with its
id), refused, not submitted, or received and unconfirmed, never both
submitted and failed, nor neither."""

import os
import time

from .. import config, job
from .. import protocol as P
from ..transport import request
from .errors import EX_FAIL, EX_INTERRUPTED, EX_UNAVAILABLE, BadJobFile
from .operations import UNANSWERED, WITHDRAWN, POLL, _alive_check, _why, controller, exchange



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


def _commands(job_files, overrides, cwd, warn):
    """``(commands, given, from_scripts)``: the QSUB commands for
    ``job_files``, gqsub's checked options, and per file the options its
    directives set besides ``-T``; :class:`BadJobFile` if any is bad."""
    from .. import directives

    try:
        given = directives.options([], cwd, overrides)
    except directives.DirectiveError as e:
        raise BadJobFile("%s; nothing submitted." % e)
    from_scripts = {}
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
    prefix = P.command(P.QSUB, directives.encode(given), "-- ") if given else P.QSUB + " "
    return [prefix + path for path in job_files], given, from_scripts


def _check_controller(info, given, from_scripts, warn):
    """Refuse what a controller without the extended QSUB would misread or
    silently drop: gqsub's options (the classic controller takes the request
    for a job path) and a script's start condition (-a, -W: the job would
    start at once).  The other directives it ignores, as it always did: a
    warning.  Plain ``gqsub FILE...`` never gets here."""
    if not given and not any(from_scripts.values()):
        return
    from .operations import capabilities, classic_controller

    if P.QSUB_OPTIONS in capabilities(info):
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
    commands, given, from_scripts = _commands(job_files, overrides or {}, cwd, warn)
    _check_controller(info, given, from_scripts, warn)
    from .. import services

    for refusal in services.refusals():
        warn(None, refusal)
    first = job.next_id()
    alive = _alive_check(info)
    try:
        outcomes, boxes, error = exchange(info, commands, alive=alive)
    except request.TooLarge as e:
        # Refused before anything was sent: the controller would drop it.
        raise BadJobFile("job path and options too large: %s; nothing submitted." % e)
    if error is None:
        return [Submitted(f, a) if a.isdigit() else Failed(f, a) for f, a in zip(job_files, outcomes)]
    pending = {boxes[i]: i for i, o in enumerate(outcomes) if o == UNANSWERED and i < len(boxes)}
    found = job.by_submit_box(pending, first)
    if isinstance(error, request.AnswerTimeout):
        settle = config.get_float("answer_timeout") if settle is None else settle
        deadline = time.monotonic() + settle
        while len(found) < len(pending) and time.monotonic() < deadline and alive():
            time.sleep(POLL)
            found = job.by_submit_box(pending, first)
    why = _why(error)
    code = EX_INTERRUPTED if isinstance(error, KeyboardInterrupt) else EX_UNAVAILABLE
    gone = not isinstance(error, (request.AnswerTimeout, KeyboardInterrupt)) and not alive()
    results = []
    for i, (path, outcome) in enumerate(zip(job_files, outcomes)):
        box = boxes[i] if i < len(boxes) else None
        if outcome not in (WITHDRAWN, UNANSWERED):
            results.append(Submitted(path, outcome) if outcome.isdigit() else Failed(path, outcome))
        elif box in found:
            results.append(Submitted(path, found[box]))
        elif outcome == WITHDRAWN or gone:
            # A dead controller's unfinished submission is discarded when
            # the next one starts (JobStore.reconcile), so it never runs.
            results.append(NotSubmitted(path, why, code))
        else:
            results.append(Unconfirmed(path, why, code))
    return results



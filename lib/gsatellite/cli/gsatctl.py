"""gsatctl and its shorthands gqsub, gqhold, gqrls, gqdel (COMMANDS.md).

Classic forms behave exactly as before; as an extension ``gqsub`` accepts
several job files and prints one id per line, in order.
"""

import os
import sys

from .. import protocol as P
from .. import __version__, paths, states
from ..fsutil import read_first_line
from ..transport import request
from ..jobstore import canonical_id
from .common import EX_FAIL, EX_USAGE, Exit, controller_box, err, program, run

SHORTHANDS = {
    "gqsub": "--qsub",
    "gqhold": "--qhold",
    "gqrls": "--qrls",
    "gqdel": "--qdel",
    "gqwait": "--qwait",
}
OPTIONS = {
    "-s": "--qsub", "--qsub": "--qsub",
    "-h": "--qhold", "--qhold": "--qhold",
    "-r": "--qrls", "--qrls": "--qrls",
    "-d": "--qdel", "--qdel": "--qdel",
    "-w": "--qwait", "--qwait": "--qwait",
}

USAGE = """Usage: gsatctl --qsub [-T type] [-N name] [-o path] [-e path] [-m abe|n] [-M addr[,addr]]
                      [-a datetime] [-W depend=TYPE:ID[:ID...]] jobFile [jobFile ...]
   or: gsatctl --qhold jobId
   or: gsatctl --qrls jobId
   or: gsatctl --qdel jobId
   or: gsatctl --qwait jobId
Try `gsatctl --help' for more information."""

HELP = """gsatctl v%s

SYNOPSIS:
gsatctl [options]

DESCRIPTION:
gsatctl is the user interface to gsatellite: it submits and manipulates jobs.

OPTIONS:
-s, --qsub [options] jobFile...
                        Submit job(s); prints one job id per line.  Options
                        override the job's #GSAT directives:
                        -T type      job type (default, gtransfer, tgftp)
                        -N name      job name shown by gqstat
                        -o path      copy the job's stdout there at its end
                        -e path      copy the job's stderr there at its end
                        -m points    mail at b(egin), e(nd), a(bort); n: none
                        -M addr,...  mail recipients
                        -a datetime  do not start before (ISO 8601 or
                                     [[[[CC]YY]MM]DD]hhmm[.SS])
                        -W depend=afterok|afterany|afternotok:ID[:ID...]
-h, --qhold jobId       Hold a job.
-r, --qrls jobId        Release a held job.
-d, --qdel jobId        Remove a job that is not running.
-w, --qwait jobId       Wait for a job to end; exit with its exit value.
[--help]                Display this help and exit.
[-V, --version]         Display version information and exit.

SHORTHANDS:
gqsub jobFile, gqhold jobId, gqrls jobId, gqdel jobId, gqwait jobId
"""


def usage(code):
    sys.stderr.write(USAGE + "\n") if code else sys.stdout.write(USAGE + "\n")
    return code


def parse(prog, argv):
    short = SHORTHANDS.get(prog)
    if short and argv and argv[0] in ("--help", "-V", "--version"):
        argv = argv[:1]
    elif short:
        argv = [short] + list(argv)
    if not argv:
        raise Exit(usage(EX_FAIL))
    first = argv[0]
    if first == "--help":
        sys.stdout.write(HELP % __version__)
        raise Exit(0)
    if first in ("-V", "--version"):
        sys.stdout.write("%s v%s\n" % (prog, __version__))
        raise Exit(0)
    action = OPTIONS.get(first)
    if action is None:
        raise Exit(usage(EX_USAGE))
    rest = argv[1:]
    if action in ("--qsub", "--qwait") and rest:
        return action, rest
    if not rest or (rest[0].startswith("-") and rest[0] != "-"):
        err(prog, 'Missing argument for option "%s"!' % first)
        raise Exit(usage(EX_USAGE))
    if action != "--qsub" and len(rest) > 1:
        if rest[1] in OPTIONS:
            err(prog, 'The option "%s" cannot be used multiple times!' % rest[1])
        raise Exit(usage(EX_USAGE))
    return action, rest


def main(argv=None):
    prog = program()
    if argv is None:
        argv = sys.argv[1:]
    return run(prog, _main, argv)


def _main(prog, argv):
    action, rest = parse(prog, argv)
    if action == "--qsub":
        return qsub(prog, rest)
    if action == "--qwait":
        from . import gqwait

        return gqwait.wait(prog, rest)
    return JOB_ACTIONS[action](prog, rest[0])


def _absolute(job):
    return job if job.startswith("/") else os.path.join(os.getcwd(), job)


def check_job_file(job):
    """Why ``job`` cannot be submitted, or None."""
    if ";" in job or "\n" in job:
        return 'Job path "%s" contains ";" or a newline, which the message protocol cannot carry.' % job.replace("\n", "\\n")
    if not os.path.lexists(job):
        return 'Job "%s" not existing!' % job
    if os.path.isdir(job):
        return 'Job "%s" is a directory!' % job
    if not os.path.isfile(job):
        return 'Job "%s" is not a regular file!' % job
    if not os.access(job, os.R_OK):
        return 'Job "%s" is not readable!' % job
    return None


QSUB_OPTIONS = ("-T", "-N", "-o", "-e", "-m", "-M", "-a", "-W")


def split_qsub_args(prog, args):
    overrides, files = {}, []
    i = 0
    while i < len(args):
        a = args[i]
        if a in QSUB_OPTIONS:
            if i + 1 >= len(args):
                err(prog, 'Missing argument for option "%s"!' % a)
                raise Exit(usage(EX_USAGE))
            overrides[a] = args[i + 1]
            i += 2
            continue
        if a == "--":
            files.extend(args[i + 1:])
            break
        if a.startswith("-") and a != "-":
            err(prog, 'Unknown option "%s"!' % a)
            raise Exit(usage(EX_USAGE))
        files.append(a)
        i += 1
    if not files:
        err(prog, "Missing job file!")
        raise Exit(usage(EX_USAGE))
    return overrides, files


def qsub(prog, args):
    from .. import directives

    overrides, jobs = split_qsub_args(prog, args)
    box = controller_box(prog)
    jobs = [_absolute(j) for j in jobs]
    try:
        given = directives.options([], os.getcwd(), overrides)
    except directives.DirectiveError as e:
        raise Exit(EX_FAIL, "%s; nothing submitted." % e)
    for job in jobs:
        problem = check_job_file(job)
        if problem:
            raise Exit(EX_FAIL, problem)
        try:
            opts = directives.options(
                directives.scan(job), os.path.dirname(job), given,
                warn=lambda text, job=job: err(prog, "warning: %s: %s" % (job, text)),
            )
        except directives.DirectiveError as e:
            raise Exit(EX_FAIL, "%s: %s; nothing submitted." % (job, e))
        if "-W" in opts:
            from ..scheduling import parse_depend

            for _, ids in parse_depend("depend=" + opts["-W"]):
                for dep in ids:
                    if not os.path.isdir(paths.job_dir(dep)):
                        raise Exit(EX_FAIL, "dependency on unknown job %s; nothing submitted." % dep)
    prefix = P.command(P.QSUB, directives.encode(given), "-- ") if given else P.QSUB + " "
    answers = submit(box, [prefix + j for j in jobs])
    code = 0
    for job, answer in zip(jobs, answers):
        if answer == P.QSUB_FAILED or not answer.isdigit():
            err(prog, "qsub failed! (%s)" % job)
            code = EX_FAIL
        else:
            sys.stdout.write(answer + "\n")
    sys.stdout.flush()
    return code


def submit(box, commands):
    """Send QSUBs; if the controller dies meanwhile, report exactly the jobs
    it created (each records the answer box it was submitted with), so a
    submission is never both failed and queued, nor neither."""
    from .. import liveness, proc

    info = liveness.controller()
    here = paths.hostname()
    first = read_first_line(paths.next_job_id_file(), "")

    def alive():
        if info is None:
            return False
        if info[0] == here:
            return proc.alive(info[1])
        return liveness.controller() == info

    try:
        return request.post(box, commands, alive=alive)
    except request.RequestError as e:
        if not e.boxes:
            raise
        found = _jobs_by_submit_box(int(first) if first.isdigit() else 0)
        answers = list(e.answers)
        for answer_box in e.boxes[len(answers):]:
            answers.append(found.get(answer_box, P.QSUB_FAILED))
        return answers


def _jobs_by_submit_box(first):
    found = {}
    try:
        names = os.listdir(paths.jobs_dir())
    except OSError:
        return found
    for name in names:
        if name.endswith(".d") and name[:-2].isdigit() and int(name[:-2]) >= first:
            recorded = read_first_line(paths.job_file(name[:-2], "job.submitBox"), "")
            if recorded:
                found[recorded] = name[:-2]
    return found


def job_id_or_exit(prog, text):
    job_id = canonical_id(text)
    if job_id is None or not os.path.isdir(paths.job_dir(job_id)):
        raise Exit(EX_FAIL, 'Invalid job id "%s"!' % text)
    return job_id


def job_state(job_id):
    return read_first_line(paths.job_file(job_id, "job.state"), "")


def _simple(verb, prog, text, checks=None):
    box = controller_box(prog)
    job_id = job_id_or_exit(prog, text)
    if checks:
        checks(job_id)
    answer = request.request(box, P.command(verb, job_id))
    if answer != P.OK:
        raise Exit(EX_FAIL, "%s failed! (%s)" % (verb.lower(), answer))
    return 0


def qhold(prog, text):
    return _simple(P.QHOLD, prog, text)


def qrls(prog, text):
    box = controller_box(prog)
    job_id = job_id_or_exit(prog, text)
    if job_state(job_id) != states.HELD:
        sys.stderr.write('%s[gsatellite/interface]: qrls failed! Job "%s" not in held state!\n' % (prog, text))
        return EX_FAIL
    answer = request.request(box, P.command(P.QRLS, job_id))
    if answer != P.OK:
        raise Exit(EX_FAIL, "qrls failed! (%s)" % answer)
    return 0


def qdel(prog, text):
    def not_running(job_id):
        if job_state(job_id) == states.RUNNING:
            raise Exit(EX_FAIL, "Cannot remove a running job! Try to hold the job first.")

    return _simple(P.QDEL, prog, text, not_running)


JOB_ACTIONS = {"--qhold": qhold, "--qrls": qrls, "--qdel": qdel}

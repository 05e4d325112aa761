"""gsatctl and its shorthands gqsub, gqhold, gqrls, gqdel (COMMANDS.md).

Classic forms behave exactly as before; as an extension ``gqsub`` accepts
several job files and prints one id per line, in order.
"""

import sys

from .. import __version__, client
from .common import EX_FAIL, EX_USAGE, Exit, err, program, run

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
                      [-a datetime] [-W depend=TYPE:ID[:ID...]] [-i file[:name]]...
                      [-O file[:dest]]... [--proxy file] jobFile [jobFile ...]
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
                        -i, --stage-in file[:name]
                                     copy a small input file into the
                                     job's working directory as name
                                     (repeatable; read now, by gqsub)
                        -O, --stage-out file[:dest]
                                     copy file of the working directory
                                     to dest (default: this directory)
                                     when the job has ended (repeatable;
                                     an existing dest is kept: dest.N)
                                     Limits: stage_limit per file,
                                     stage_job_limit per job
                        --proxy file X.509 proxy of the job: its
                                     X509_USER_PROXY, watched for its end
                                     (must exist now; for your own:
                                     --proxy "$X509_USER_PROXY")
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
    JOB_ACTIONS[action](rest[0])
    return 0


QSUB_OPTIONS = ("-T", "-N", "-o", "-e", "-m", "-M", "-a", "-W", "-i", "-O", "--proxy")
# Long spellings, and the options that may be given more than once.
QSUB_LONG = {"--stage-in": "-i", "--stage-out": "-O", "--proxy": "--proxy"}
QSUB_REPEATABLE = ("-i", "-O")


def split_qsub_args(prog, args):
    overrides, files = {}, []
    i = 0
    while i < len(args):
        a = args[i]
        if a.split("=", 1)[0] in QSUB_LONG and "=" in a:
            a, value = a.split("=", 1)
            args = args[:i] + [a, value] + args[i + 1:]
        a = QSUB_LONG.get(a, a)
        if a in QSUB_OPTIONS:
            if i + 1 >= len(args):
                err(prog, 'Missing argument for option "%s"!' % args[i])
                raise Exit(usage(EX_USAGE))
            if a in QSUB_REPEATABLE:
                overrides.setdefault(a, []).append(args[i + 1])
            else:
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
    overrides, jobs = split_qsub_args(prog, args)
    results = client.submit(jobs, overrides,
                            warn=lambda job, text: err(prog, "warning: %s" % (text if job is None else "%s: %s" % (job, text))))
    code = 0
    for result in results:
        if result.message is None:
            sys.stdout.write(result.job_id + "\n")
        else:
            err(prog, result.message)
            code = code or result.exit_code
    sys.stdout.flush()
    return code


JOB_ACTIONS = {"--qhold": client.hold, "--qrls": client.release, "--qdel": client.delete}

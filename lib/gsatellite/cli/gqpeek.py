"""gqpeek [-o|-e|-a] [-f] [-n N] [--run N] ID: print or follow a job's output.

``-o`` stdout (default), ``-e`` stderr, ``-a`` both; ``-n N`` only the last N
lines (found by reading backwards from the end, so a huge output costs no
more than its tail); ``-f`` follows new output like ``tail -f`` and stops by
itself when the job has ended, exiting with its exit value.  A job that ran
more than once (restarted, or held and released) shows its current run;
``--run N`` shows run N (1 is the first), kept in job.stdout.N and
job.stderr.N.  It reads the job store
directly, so it works from any host that shares ``$HOME``.  A queued job is
reported (and with ``-f`` waited for).  With ``-a`` the two streams are
interleaved in the order their output is seen while following; output that
was already written when gqpeek started is shown stdout first.
"""

import sys

from .. import client
from .common import info_option, EX_USAGE, Exit, err, program, run
from ..protocol import digits

USAGE = "Usage: gqpeek [-o|-e|-a] [-f] [-n N] [--run N] jobId\n"


def main(argv=None):
    return run(program(), _main, sys.argv[1:] if argv is None else argv)


def parse(argv):
    streams, follow, lines, job, run = ("stdout",), False, None, None, None
    i = 0
    while i < len(argv):
        a = argv[i]
        info_option(a, "gqpeek", USAGE + "\n" + __doc__.split("\n\n", 1)[1])
        if a == "-o":
            streams = ("stdout",)
        elif a == "-e":
            streams = ("stderr",)
        elif a == "-a":
            streams = ("stdout", "stderr")
        elif a == "-f":
            follow = True
        elif a == "-n":
            if i + 1 >= len(argv) or not digits(argv[i + 1]):
                sys.stderr.write(USAGE)
                raise Exit(EX_USAGE, "-n needs a number of lines")
            lines = int(argv[i + 1])
            i += 1
        elif a == "--run":
            if i + 1 >= len(argv) or not digits(argv[i + 1]) or int(argv[i + 1]) < 1:
                sys.stderr.write(USAGE)
                raise Exit(EX_USAGE, "--run needs a run number (1 is the first run)")
            run = int(argv[i + 1])
            i += 1
        elif a.startswith("-") or job is not None:
            sys.stderr.write(USAGE)
            raise Exit(EX_USAGE)
        else:
            job = a
        i += 1
    if job is None:
        sys.stderr.write(USAGE)
        raise Exit(EX_USAGE)
    return streams, follow, lines, job, run


def _main(prog, argv):
    streams, follow, lines, job, run = parse(argv)
    peek = client.Peek(job, streams, lines, run=run)
    out = sys.stdout.buffer
    if peek.run is not None:
        if follow:
            raise Exit(EX_USAGE, "run %d of job %s is over; -f follows the current run only" % (run, peek.id))
        out.write(peek.read())
        return 0
    current = peek.current_run()
    if current > 1:
        err(prog, "job %s: run %d; earlier runs with --run 1%s" % (
            peek.id, current, "" if current == 2 else " to --run %d" % (current - 1)))
    if peek.queued():
        err(prog, "job %s is queued%s" % (peek.id, "; waiting for it to start" if follow else ""))
        if not follow:
            return 0
        peek.wait_started()
    for data in peek.chunks():
        out.write(data)
    out.flush()
    if not follow:
        return 0
    for data in peek.follow():
        out.write(data)
        out.flush()
    return peek.exit_value

"""trigger [--wait] [--job ID] NAME [ARG...]: run the services of event NAME.

Inside a job the job is found from ``GSAT_O_JOBID``; its sputnik runs the
services, so the controller is not involved.  Exit 0 once the services were
started (``--wait``: once they finished, non-zero if any failed), 64 for
usage errors (including a call outside a job without ``--job``, and
arguments too large for one message, ``max_message_size``), 1 when the
job does not run or the sputnik refuses.
"""

import os
import sys

from ..triggers import check_name
from .common import info_option, EX_USAGE, Exit, program, run

USAGE = "Usage: trigger [--wait] [--job jobId] EVENT_NAME [ARG...]\n"


def main(argv=None):
    return run(program(), _main, sys.argv[1:] if argv is None else argv)


def _main(prog, argv):
    wait, job = False, None
    i = 0
    while i < len(argv):
        a = argv[i]
        info_option(a, "trigger", USAGE + "\n" + __doc__.split("\n\n", 1)[1])
        if a == "--wait":
            wait = True
        elif a == "--job":
            if i + 1 >= len(argv):
                sys.stderr.write(USAGE)
                raise Exit(EX_USAGE, "--job needs a job id")
            job = argv[i + 1]
            i += 1
        elif a == "--":
            i += 1
            break
        elif a.startswith("-"):
            sys.stderr.write(USAGE)
            raise Exit(EX_USAGE, 'Unknown option "%s"!' % a)
        else:
            break
        i += 1
    rest = argv[i:]
    if not rest:
        sys.stderr.write(USAGE)
        raise Exit(EX_USAGE, "missing event name")
    name, args = rest[0], rest[1:]
    problem = check_name(name)
    if problem:
        raise Exit(EX_USAGE, problem)
    if job is None:
        job = os.environ.get("GSAT_O_JOBID")
        if not job:
            raise Exit(EX_USAGE, "not inside a gsatellite job (no GSAT_O_JOBID); use --job ID")
    from .. import client

    client.trigger(job, name, args, wait)
    return 0

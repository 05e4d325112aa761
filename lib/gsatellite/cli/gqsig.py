"""gqsig [-s|--signal SIGNAL] ID: send a signal to a running job's process group."""

import sys

from .. import protocol as P
from .. import __version__, states
from ..transport import request, wake
from .common import info_option, EX_FAIL, EX_USAGE, Exit, controller_box, err, program, run
from .gsatctl import job_id_or_exit, job_state

USAGE = """Usage: %s [-s|--signal SIGNAL] jobId
Try `%s --help' for more information.
"""

HELP = """gqsig v%s

SYNOPSIS:
gqsig [-s|--signal SIGNAL] jobId

Send SIGNAL (default SIGTERM; a name such as USR1 or SIGUSR1, or a number)
to the process group of the running job jobId.
"""


def main(argv=None):
    return run(program(), _main, sys.argv[1:] if argv is None else argv)


def _main(prog, argv):
    sig = "SIGTERM"
    job = None
    i = 0
    while i < len(argv):
        a = argv[i]
        info_option(a, "gqsig", HELP % __version__)
        if a in ("-s", "--signal"):
            if i + 1 >= len(argv):
                err(prog, 'Missing argument for option "%s"!' % a)
                sys.stderr.write(USAGE % (prog, prog))
                return EX_USAGE
            sig = argv[i + 1]
            i += 2
            continue
        if a.startswith("-") or job is not None:
            sys.stderr.write(USAGE % (prog, prog))
            return EX_USAGE
        job = a
        i += 1
    if job is None:
        sys.stderr.write(USAGE % (prog, prog))
        return EX_USAGE
    try:
        signo = wake.signal_number(sig)
    except ValueError:
        raise Exit(EX_USAGE, 'Unknown signal "%s"!' % sig)
    box = controller_box(prog)
    job_id = job_id_or_exit(prog, job)
    if job_state(job_id) != states.RUNNING:
        raise Exit(EX_FAIL, 'Job "%s" is not running!' % job)
    answer = request.request(box, P.command(P.QSIG, wake.signal_name(signo), job_id))
    if answer != P.OK:
        raise Exit(EX_FAIL, "qsig failed! (%s)" % answer)
    return 0

"""gqwait [--any] [--timeout SEC] ID...: block until jobs have ended.

Exit value: the job's exit value (128+N when it died of signal N); with
several ids the first non-zero one in argument order (0 if all are 0); with
``--any`` that of the first job to end.  124 on timeout, 1 for an unknown or
deleted job.  The wait reads a FIFO registered with the controller, so it
costs no CPU; Ctrl-C removes the FIFO and the registrations.
"""

import signal
import sys

from .. import client
from .common import info_option, EX_USAGE, Exit, program, run

USAGE = "Usage: %s [--any] [--timeout SEC] jobId [jobId ...]\n"


def main(argv=None):
    return run(program(), wait, sys.argv[1:] if argv is None else argv)


def parse(prog, argv):
    any_, timeout, ids = False, None, []
    i = 0
    while i < len(argv):
        a = argv[i]
        info_option(a, prog, USAGE % prog + __doc__.split("\n\n", 1)[1])
        if a == "--any":
            any_ = True
        elif a in ("--timeout", "-t"):
            try:
                timeout = float(argv[i + 1])
                if timeout != timeout:  # nan: select() refuses it
                    raise ValueError(argv[i + 1])
            except (IndexError, ValueError):
                sys.stderr.write(USAGE % prog)
                raise Exit(EX_USAGE, "--timeout needs a number of seconds")
            i += 1
        elif a.startswith("-") and a != "-":
            sys.stderr.write(USAGE % prog)
            raise Exit(EX_USAGE, 'Unknown option "%s"!' % a)
        else:
            ids.append(a)
        i += 1
    if not ids:
        sys.stderr.write(USAGE % prog)
        raise Exit(EX_USAGE)
    return any_, timeout, ids


def wait(prog, argv):
    any_, timeout, given = parse(prog, argv)
    # SIGTERM and SIGHUP end the wait like Ctrl-C: through the clean-up.
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    return client.wait(given, any_, timeout)


def _terminate(signo, frame):
    raise SystemExit(128 + signo)

"""gqclean [--older-than AGE] [--state finished|failed] [-n|--dry-run]: remove ended jobs.

Only finished and failed jobs are ever removed, never queued, held or
running ones.  AGE is a number with an optional unit s, m, h or d (default
seconds) and is counted from the job's end.  With a running controller the
removal goes through it (it is the store's single writer); without one the
jobs are removed directly.
"""

import sys

from .. import client, states
from .common import info_option, EX_USAGE, Exit, err, program, run

USAGE = "Usage: gqclean [--older-than AGE] [--state finished|failed] [-n|--dry-run]\n"
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def main(argv=None):
    return run(program(), _main, sys.argv[1:] if argv is None else argv)


def parse_age(text):
    unit = UNITS.get(text[-1:], None)
    number = text[:-1] if unit else text
    try:
        value = float(number)
    except ValueError:
        value = -1
    if not 0 <= value < float("inf"):  # also nan, which matched no job
        raise Exit(EX_USAGE, "invalid age %r (e.g. 90, 30m, 12h, 7d)" % text)
    return value * (unit or 1)


def _main(prog, argv):
    age, wanted, dry = None, states.ENDED, False
    i = 0
    while i < len(argv):
        a = argv[i]
        info_option(a, "gqclean", USAGE + "\n" + __doc__.split("\n\n", 1)[1])
        if a in ("-n", "--dry-run"):
            dry = True
        elif a in ("--older-than", "--state") and i + 1 < len(argv):
            if a == "--older-than":
                age = parse_age(argv[i + 1])
            elif argv[i + 1] in states.ENDED:
                wanted = (argv[i + 1],)
            else:
                raise Exit(EX_USAGE, "--state takes finished or failed, not %r" % argv[i + 1])
            i += 1
        else:
            sys.stderr.write(USAGE)
            return EX_USAGE
        i += 1
    doomed = client.ended_jobs(wanted, age, damaged=lambda job_id, problem: err(
        prog, "job %s is damaged (%s); skipped" % (job_id, problem)))
    if dry:
        sys.stdout.write("".join(j + "\n" for j in doomed))
        return 0
    client.remove_ended(doomed)
    return 0

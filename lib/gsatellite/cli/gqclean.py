"""gqclean [--older-than AGE] [--state finished|failed] [-n|--dry-run]: remove ended jobs.

Only finished and failed jobs are ever removed, never queued, held or
running ones.  AGE is a number with an optional unit s, m, h or d (default
seconds) and is counted from the job's end.  With a running controller the
removal goes through it (it is the store's single writer); without one the
jobs are removed directly.
"""

import os
import sys
import time

from .. import protocol as P
from .. import liveness, paths, states
from ..fsutil import read_text
from ..transport import request
from .common import info_option, EX_FAIL, EX_USAGE, Exit, program, run

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
    if value < 0:
        raise Exit(EX_USAGE, "invalid age %r (e.g. 90, 30m, 12h, 7d)" % text)
    return value * (unit or 1)


def ended_at(job_id):
    stops = (read_text(paths.job_file(job_id, "job.stop"), "") or "").split()
    if stops and stops[-1].isdigit():
        return int(stops[-1])
    try:
        return os.stat(paths.job_file(job_id, "job.state")).st_mtime
    except OSError:
        return 0


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
    from ..jobstore import JobStore

    store = JobStore()
    now = time.time()
    doomed = [
        job_id
        for state in wanted
        for job_id in store.ids(state)
        if store.state(job_id) == state and (age is None or now - ended_at(job_id) >= age)
    ]
    doomed.sort()
    if dry:
        sys.stdout.write("".join(j + "\n" for j in doomed))
        return 0
    if not doomed:
        return 0
    box = liveness.controller_box()
    if box is None:
        for job_id in doomed:
            store.remove(job_id)
        return 0
    answers = request.post(box, [P.command(P.QDEL, j) for j in doomed])
    failed = [j for j, a in zip(doomed, answers) if a != P.OK]
    if failed:
        raise Exit(EX_FAIL, "could not remove: %s" % " ".join(failed))
    return 0

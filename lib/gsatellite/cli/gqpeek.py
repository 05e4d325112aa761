"""gqpeek [-o|-e|-a] [-f] [-n N] ID: print or follow a job's output.

``-o`` stdout (default), ``-e`` stderr, ``-a`` both; ``-n N`` only the last N
lines; ``-f`` follows new output like ``tail -f`` and stops by itself when
the job has ended, exiting with its exit value.  It reads the job store
directly, so it works from any host that shares ``$HOME``.  A queued job is
reported (and with ``-f`` waited for).  With ``-a`` the two streams are
interleaved in the order their output is seen while following; output that
was already written when gqpeek started is shown stdout first.
"""

import os
import sys
import time

from .. import paths, states
from ..fsutil import read_first_line
from ..jobstore import canonical_id
from .common import info_option, EX_FAIL, EX_USAGE, Exit, err, program, run

USAGE = "Usage: gqpeek [-o|-e|-a] [-f] [-n N] jobId\n"
POLL = 0.05


def main(argv=None):
    return run(program(), _main, sys.argv[1:] if argv is None else argv)


def parse(argv):
    streams, follow, lines, job = ("job.stdout",), False, None, None
    i = 0
    while i < len(argv):
        a = argv[i]
        info_option(a, "gqpeek", USAGE + "\n" + __doc__.split("\n\n", 1)[1])
        if a == "-o":
            streams = ("job.stdout",)
        elif a == "-e":
            streams = ("job.stderr",)
        elif a == "-a":
            streams = ("job.stdout", "job.stderr")
        elif a == "-f":
            follow = True
        elif a == "-n":
            if i + 1 >= len(argv) or not argv[i + 1].isdigit():
                sys.stderr.write(USAGE)
                raise Exit(EX_USAGE, "-n needs a number of lines")
            lines = int(argv[i + 1])
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
    return streams, follow, lines, job


def tail_bytes(data, n):
    if n is None:
        return data
    if n == 0:
        return b""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts = parts[:-1]
        return b"\n".join(parts[-n:]) + b"\n"
    return b"\n".join(parts[-n:])


def _main(prog, argv):
    streams, follow, lines, job = parse(argv)
    job_id = canonical_id(job)
    if job_id is None or not os.path.isdir(paths.job_dir(job_id)):
        raise Exit(EX_FAIL, 'Invalid job id "%s"!' % job)
    out = sys.stdout.buffer

    def state():
        return read_first_line(paths.job_file(job_id, "job.state"), "")

    if state() == states.QUEUED:
        err(prog, "job %s is queued%s" % (job_id, "; waiting for it to start" if follow else ""))
        if not follow:
            return 0
        while state() == states.QUEUED:
            time.sleep(POLL * 4)
    offsets = {}
    for name in streams:
        path = paths.job_file(job_id, name)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        offsets[name] = len(data)
        out.write(tail_bytes(data, lines))
    out.flush()
    if not follow:
        return 0
    while True:
        current = state()
        if not os.path.isdir(paths.job_dir(job_id)):
            raise Exit(EX_FAIL, "job %s was deleted" % job_id)
        ended = current in states.ENDED
        for name in streams:
            offsets[name] = _copy_new(paths.job_file(job_id, name), offsets[name], out)
        if ended:
            value = read_first_line(paths.job_file(job_id, "job.exit"), "")
            return int(value) if value.isdigit() else EX_FAIL
        time.sleep(POLL)


def _copy_new(path, offset, out):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return offset
    if data:
        out.write(data)
        out.flush()
    return offset + len(data)

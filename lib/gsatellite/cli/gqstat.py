"""gqstat: list jobs from the job store (COMMANDS.md), byte for byte classic.

It reads the store directly and works whether or not the controller runs.
Widths are padded in bytes and cut in characters, as bash's printf and
``${var::N}`` do in a UTF-8 locale.
"""

import os
import sys

from .. import __version__, paths, states
from ..jobstore import canonical_id
from .common import info_option, EX_FAIL, EX_USAGE, Exit, err, program, run

ATTRIBUTES = ("job.id", "job.name", "job.dir", "job.state", "job.execHost",
              "job.pid", "job.start", "job.stop")
HEADER = "   job.state job.id             job.execHost                 job.name\n"
RULE = "------------ ------ ------------------------ ------------------------\n"

USAGE = """Usage: %s [-f [jobId]] [-s jobState] [-t jobType] [--json]
Try `%s --help' for more information.
"""

HELP = """gqstat v%s

SYNOPSIS:
gqstat [options]

DESCRIPTION:
gqstat lists gsatellite jobs and their attributes.

OPTIONS:
[-f, --detailed-listing [jobId]]
                        List all attributes of all jobs, or of one job.
[-s, --job-state jobState]
                        Only jobs in this state: queued, running, finished,
                        failed or held.
[-t, --job-type jobType]
                        Only jobs of this type.
[--json]                All attributes of the selected jobs as a JSON array
                        (times as epoch seconds and ISO 8601).
[-V, --version]         Display version information and exit.
[--help]                Display this help and exit.

Without arguments gqstat prints a table of all jobs.
"""


def _read(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return data.decode("utf-8", "surrogateescape").rstrip("\n")


def _cell(text, width):
    text = text[:width]
    pad = width - len(text.encode("utf-8", "surrogateescape"))
    return text + " " * pad if pad > 0 else text


def row(job_id, state=None):
    jdir = paths.job_dir(job_id)
    if state is None:
        state = _read(os.path.join(jdir, "job.state"))
    host = _read(os.path.join(jdir, "job.execHost"))
    try:
        name = os.path.basename(os.readlink(os.path.join(jdir, job_id)))
    except OSError:
        name = ""
    return "%s %s %s %s\n" % (_cell(state, 12), _cell(job_id, 6), _cell(host, 24), _cell(name, 24))


# Attributes classic tools never write, shown after the classic lines when
# present (so a classic store lists exactly as the classic gqstat lists it).
EXTENSIONS = ("job.type", "job.exit", "job.restarts", "job.reason", "job.depend",
              "job.mailPoints", "job.mailTo", "job.stdoutPath", "job.stderrPath", "job.outputError")
TIMES = (("job.submitted", "job.submitTime"), ("job.startAfter", "job.startAfterTime"),
         ("job.start", "job.startTime"), ("job.stop", "job.stopTime"))


def local_time(epoch_text):
    import time

    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(epoch_text)))
    except (ValueError, OverflowError):
        return ""


def extensions(jdir):
    if not os.path.exists(os.path.join(jdir, "job.submitted")):
        events = _read(os.path.join(jdir, "job.events"))
        return 'job.events="%d"\n' % len(events.splitlines()) if events else ""
    out = []
    for attr in EXTENSIONS:
        value = _read(os.path.join(jdir, attr))
        if value:
            out.append('%s="%s"\n' % (attr, value))
    for attr, key in TIMES:
        value = _read(os.path.join(jdir, attr)).split("\n")[-1]
        if value:
            out.append('%s="%s"\n' % (key, local_time(value)))
    events = _read(os.path.join(jdir, "job.events"))
    out.append('job.events="%d"\n' % (len(events.splitlines()) if events else 0))
    return "".join(out)


def detailed(job_id):
    jdir = paths.job_dir(job_id)
    out = []
    for attr in ATTRIBUTES:
        path = os.path.join(jdir, attr)
        try:
            nonempty = os.path.getsize(path) > 0
        except OSError:
            nonempty = False
        if nonempty:
            out.append('%s="%s"\n' % (attr, _read(path)))
        elif attr == "job.dir":
            out.append('%s="%s"\n' % (attr, jdir))
    return "".join(out) + extensions(jdir)


def job_ids(state=None):
    d = paths.state_dir(state) if state else paths.jobs_dir()
    try:
        names = os.listdir(d)
    except OSError:
        return []
    ids = [n[:-2] for n in names if n.endswith(".d") and not n.startswith(".")]
    ids.sort()
    return ids


def _type_matches(job_id, job_type):
    return job_type is None or _read(paths.job_file(job_id, "job.type")) == job_type


def parse(prog, argv):
    opts = {"detailed": False, "id": None, "state": None, "type": None, "json": False}
    seen = set()
    i = 0
    while i < len(argv):
        a = argv[i]
        info_option(a, "gqstat", HELP % __version__)
        if a == "--json":
            opts["json"] = True
            i += 1
            continue
        if a in ("-f", "--detailed-listing", "-s", "--job-state", "-t", "--job-type"):
            key = {"-f": "f", "--detailed-listing": "f", "-s": "s", "--job-state": "s",
                   "-t": "t", "--job-type": "t"}[a]
            if key in seen:
                err(prog, 'The option "%s" cannot be used multiple times!' % a)
                sys.stderr.write(USAGE % (prog, prog))
                raise Exit(EX_USAGE)
            seen.add(key)
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if key == "f":
                # An explicit empty argument after -f is an (invalid) job id.
                has_value = nxt is not None and (nxt == "" or not nxt.startswith("-"))
            else:
                has_value = nxt is not None and nxt != "" and not nxt.startswith("-")
            if key == "f":
                opts["detailed"] = True
                if has_value:
                    opts["id"] = nxt
                    i += 1
            else:
                if not has_value:
                    err(prog, 'Missing argument for option "%s"!' % a)
                    sys.stderr.write(USAGE % (prog, prog))
                    raise Exit(EX_USAGE)
                opts["state" if key == "s" else "type"] = nxt
                i += 1
            i += 1
            continue
        sys.stderr.write(USAGE % (prog, prog))
        raise Exit(EX_USAGE)
    return opts


def main(argv=None):
    return run(program(), _main, sys.argv[1:] if argv is None else argv)


def _main(prog, argv):
    opts = parse(prog, argv)
    state, job_type = opts["state"], opts["type"]
    if state is not None and not states.is_state(state):
        raise Exit(EX_FAIL, "Unknown job state -- '%s'." % state)
    out = sys.stdout
    if opts["json"]:
        from .. import jobjson

        if opts["id"] is not None:
            job_id = canonical_id(opts["id"])
            if job_id is None or not os.path.isdir(paths.job_dir(job_id)):
                raise Exit(EX_FAIL, 'Invalid job id "%s"!' % opts["id"])
            wanted = [job_id] if state is None or job_id in job_ids(state) else []
        else:
            wanted = job_ids(state)
        jobjson.dump([j for j in wanted if _type_matches(j, job_type)], out)
        return 0
    if opts["detailed"]:
        if opts["id"] is not None:
            job_id = canonical_id(opts["id"])
            if job_id is None or not os.path.isdir(paths.job_dir(job_id)):
                raise Exit(EX_FAIL, 'Invalid job id "%s"!' % opts["id"])
            if state is None:
                if _type_matches(job_id, job_type):
                    out.write(detailed(job_id))
                return 0
            wanted = [job_id] if job_id in job_ids(state) else []
        else:
            wanted = job_ids(state)
        for job_id in wanted:
            if _type_matches(job_id, job_type):
                out.write(detailed(job_id) + "\n")
        return 0
    chunks = [HEADER, RULE]
    for job_id in job_ids(state):
        if _type_matches(job_id, job_type):
            chunks.append(row(job_id))
    out.write("".join(chunks))
    return 0

"""gqstat: list jobs from the job store (COMMANDS.md), byte for byte classic.

It reads the store directly and works whether or not the controller runs;
:mod:`gsatellite.views` renders what it prints.
"""

import sys

from .. import __version__, client, listcache, views
from . import halves
from .common import info_option, EX_USAGE, Exit, err, program, run

USAGE = """Usage: %s [-f [jobId] [-x]] [-s jobState] [-t jobType] [--json]
Try `%s --help' for more information.
"""

HELP = """gqstat v%s

SYNOPSIS:
gqstat [options]

DESCRIPTION:
gqstat lists gsatellite jobs and their attributes.

OPTIONS:
[-f, --detailed-listing [jobId]]
                        List the attributes of all jobs, or of one job,
                        as the classic gqstat lists them.
[-x, --extended]        With -f, also the attributes only this gsatellite
                        writes (job.type, job.exit, job.submitTime,
                        job.startTime and job.stopTime of the last run,
                        job.events, ...), after the classic lines.
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


def parse(prog, argv):
    opts = {"detailed": False, "id": None, "state": None, "type": None, "json": False, "extended": False}
    seen = set()
    i = 0
    while i < len(argv):
        a = argv[i]
        info_option(a, "gqstat", HELP % __version__)
        if a in ("--json", "-x", "--extended"):
            opts["json" if a == "--json" else "extended"] = True
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
        if opts["detailed"] and opts["id"] is None and a and not a.startswith("-"):
            opts["id"] = a  # "-f -x ID": the id may follow -x too
            i += 1
            continue
        sys.stderr.write(USAGE % (prog, prog))
        raise Exit(EX_USAGE)
    if opts["extended"] and not opts["detailed"] and not opts["json"]:
        err(prog, 'The option "-x" extends -f; use "-f -x"!')
        sys.stderr.write(USAGE % (prog, prog))
        raise Exit(EX_USAGE)
    return opts


def main(argv=None):
    return run(program(), _main, sys.argv[1:] if argv is None else argv)


def _main(prog, argv):
    opts = parse(prog, argv)
    if opts["id"] is None and not opts["json"]:
        return _listing(prog, opts)
    jobs = client.status(opts["id"], opts["state"], opts["type"])
    bad = []

    def damaged(job, problem):
        bad.append(job)
        err(prog, "job %s is damaged (%s); skipped" % (job.id, problem))

    if opts["json"]:
        text = views.json_document(views.sound(jobs, views.record, damaged))
    elif opts["state"] is None:
        # The classic form: one job, no empty line after it.
        text = "".join(views.sound(jobs, lambda j: views.detailed(j, opts["extended"]), damaged))
    else:
        text = "".join(views.sound(jobs, lambda j: views.detailed(j, opts["extended"]) + "\n", damaged))
    sys.stdout.write(text)
    # A listing skips a damaged job; a job asked for by its id is a failure.
    return 1 if bad and opts["id"] is not None else 0


def _listing(prog, opts):
    """The table, or ``-f`` of every job: no view per job where none is
    needed, long ones in two halves and through the listing cache."""
    ids, jobs_dir, jobs_fd = client.table(opts["state"], opts["type"])
    cache = listcache.open_for("long" if opts["detailed"] else "table", jobs_fd, len(ids))
    if opts["detailed"]:
        def render(part, tell):
            return views.detailed_rows(part, jobs_dir, jobs_fd, opts["extended"], tell, cache)
        head = ""
    else:
        def render(part, tell):
            return views.table_rows(part, jobs_dir, jobs_fd, tell, cache)
        head = views.HEADER + views.RULE
    text = halves.sound(ids, render, lambda i, problem: err(
        prog, "job %s is damaged (%s); skipped" % (ids[i], problem)), cache)
    sys.stdout.write(head + text)
    if cache is not None:
        cache.save(ids if opts["state"] is None and opts["type"] is None else None)
    return 0

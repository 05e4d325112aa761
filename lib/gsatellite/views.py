"""How jobs look to a user: gqstat's table, ``-f`` and ``--json``, from
:class:`gsatellite.job.Job` views (COMMANDS.md).

The table and ``-f`` are byte for byte what the classic gqstat prints for
a classic store: widths are padded in bytes and cut in characters, as
bash's printf and ``${var::N}`` do in a UTF-8 locale.  ``-f`` shows only
the classic lines, for a job either controller ran, so scripts that parse
its blocks see what the classic gqstat printed; the attributes the classic
tools never write follow them only in the extended view (``gqstat -f -x``).
Its ``job.startTime`` and ``job.stopTime`` are those of the same run, the
last: no stop time while that run goes on.

The JSON form has fixed keys (a missing attribute is ``null`` or an empty
list, never absent), so scripts can rely on them.  Times come twice: epoch
seconds (``*_epoch``) and ISO 8601 in local time with offset (``*_iso``).

Every value the table and ``-f`` show has its control characters escaped
(``\\n``, ``\\x1b``, ...: :func:`protocol.escape_controls`), so a job name
cannot move the cursor or forge lines; attributes that hold one line per
run keep their line breaks.  ``--json`` is escaped by JSON itself.  A stored
time that cannot be shown (out of range) shows as empty, or ``null``.

Rendering functions return text; they never print.
"""

import time

from . import job as jobview
from .protocol import escape_controls
from .states import is_state

HEADER = "   job.state job.id             job.execHost                 job.name\n"
RULE = "------------ ------ ------------------------ ------------------------\n"

# The classic -f attributes, in the classic order.
ATTRIBUTES = ("job.id", "job.name", "job.dir", "job.state", "job.execHost",
              "job.pid", "job.start", "job.stop")
# Attributes classic tools never write, shown after the classic lines when
# present (so a classic store lists exactly as the classic gqstat lists it).
EXTENSIONS = ("job.type", "job.exit", "job.restarts", "job.reason", "job.depend",
              "job.mailPoints", "job.mailTo", "job.stdoutPath", "job.stderrPath", "job.outputError",
              "job.x509UserProxy", "job.proxyFile", "job.proxyHold")
# Small-file stage in/out (staging.py): the inputs, the requests, what was
# copied where and what was not.  One line per file.
STAGING = ("job.stageIn", "job.stageOut", "job.stagedOut", "job.stageOutError")
EXTENSIONS += STAGING
# Attributes with one line per run or failure: their line breaks are kept.
MULTI_LINE = ("job.start", "job.stop", "job.outputError") + STAGING
TIMES = (("job.submitted", "job.submitTime"), ("job.startAfter", "job.startAfterTime"),
         ("job.start", "job.startTime"), ("job.stop", "job.stopTime"),
         ("job.proxyNotAfter", "job.proxyNotAfterTime"))


# -- the table -----------------------------------------------------------------

# A job's table line as the listing cache keeps it ("/" is in no file name).
_LINE = "/line"


def _cell(text, width):
    text = text[:width]
    pad = width - len(text.encode("utf-8", "surrogateescape"))
    return text + " " * pad if pad > 0 else text


def shown(attr, value):
    """``value`` of job file ``attr`` as the table and ``-f`` show it."""
    if attr == "job.stageOut":
        value = value.replace("\t", " -> ")  # FILE<TAB>DEST lines
    if attr in MULTI_LINE:
        return "\n".join(escape_controls(line) for line in value.split("\n"))
    return escape_controls(value)


def row(job):
    """One table line: state, id, execution host, name of the job's file."""
    copy = job.job_file
    name = copy.rpartition("/")[2] if copy is not None else ""  # os.path.basename
    state = job.text("job.state") or ""
    host = job.text("job.execHost") or ""
    line = _plain_line(state, job.id, host, name)
    if line is not None:
        return line
    return "%s %s %s %s\n" % (_cell(shown("job.state", state), 12), _cell(job.id, 6),
                              _cell(shown("job.execHost", host), 24), _cell(escape_controls(name), 24))


def _plain_line(state, job_id, host, name):
    """The table line of the common case, 10,000 times per listing, or None:
    nothing to escape and a character is a byte, so printf's pad-and-cut
    does it all."""
    every = state + job_id + host + name
    if every.isascii() and every.isprintable():
        return "%-12.12s %-6.6s %-24.24s %-24.24s\n" % (state, job_id, host, name)
    return None


def table_rows(ids, jobs_dir, jobs_fd, report, cache=None):
    """The table's lines of jobs ``ids`` (in the jobs directory ``jobs_dir``,
    open as ``jobs_fd``), as :func:`sound_at` with :func:`row` renders
    them; ``report(i, problem)`` for a damaged ``ids[i]``.

    The common job (a state word, nothing to escape) costs no
    :class:`~gsatellite.job.Job` (:func:`gsatellite.job.table_fields`),
    and with a :class:`~gsatellite.listcache.Cache` that holds its line, not
    even a read; any other goes on in a view that knows what was read,
    through :func:`row` and the job's damage check.
    """
    out = []
    fields = jobview.table_fields
    for i, job_id in enumerate(ids):
        if jobs_fd is None:
            view = jobview.Job(job_id, jobs_dir)
        else:
            stats = None
            if cache is not None:
                held = cache.look(job_id, later=True)
                line = held.get(_LINE) if held is not None else None
                # As _plain_line makes it: one printable ASCII line.
                if line and line.isascii() and line[:-1].isprintable() and line[-1] == "\n":
                    out.append(line)
                    continue
                stats = []
            (state, bad_state), (host, bad_host), copy = fields(jobs_fd, job_id, stats)
            if state is not None and bad_state is None and bad_host is None:
                word = state.strip()
                state = state.rstrip("\n")
                host = "" if host is None else host.rstrip("\n")
                name = "" if copy is None else copy.rpartition("/")[2]
                line = _plain_line(state, job_id, host, name) if not word or is_state(word) else None
                if line is not None:
                    out.append(line)
                    if cache is not None:
                        cache.keep(job_id, {"job.state": word, _LINE: line}, stats[0])
                    continue
            view = jobview.Job.seeded(job_id, jobs_dir, jobs_fd, {
                "job.state": (state, bad_state), "job.execHost": (host, bad_host)})
        out += sound_at([view], row, lambda _, problem, i=i: report(i, problem))
    return out


def table(jobs):
    return "".join([HEADER, RULE] + [row(j) for j in jobs])


# -- -f --------------------------------------------------------------------------

def local_time(epoch_text):
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(epoch_text)))
    except (ValueError, OverflowError, OSError):
        return ""


def _extensions(job):
    events = job.text("job.events")
    count = len(events.splitlines()) if events else 0
    if job.raw("job.submitted") is None:
        # A job submitted by a classic tool: only the event count is new.
        return 'job.events="%d"\n' % count if events else ""
    out = []
    for attr in EXTENSIONS:
        value = job.text(attr)
        if value:
            out.append('%s="%s"\n' % (attr, shown(attr, value)))
    for attr, key in TIMES:
        value = _last_run(job).get(attr) if attr in ("job.start", "job.stop") else job.text(attr)
        value = (value or "").split("\n")[-1]
        if value:
            out.append('%s="%s"\n' % (key, local_time(value)))
    out.append('job.events="%d"\n' % count)
    return "".join(out)


def _last_run(job):
    """``{"job.start": EPOCH, "job.stop": EPOCH}`` of the last run, as text;
    no stop while it runs (job.stop then holds the runs before it only)."""
    starts, stops = job.starts, job.stops
    if not starts:
        return {"job.stop": str(stops[-1])} if stops else {}
    run = {"job.start": str(starts[-1])}
    if len(stops) >= len(starts):
        run["job.stop"] = str(stops[len(starts) - 1])
    return run


def detailed(job, extended=False):
    """The classic ``attr="value"`` lines of ``job`` (gqstat -f ID), and
    with ``extended`` the attributes only the new tools write."""
    out = []
    for attr in ATTRIBUTES:
        value = job.raw(attr)
        if value:
            value = value.rstrip("\n")
            # Nothing to escape, one line: as shown() gives it, 80,000 times
            # in a listing of 10,000 jobs.
            out.append('%s="%s"\n' % (attr, value if value.isprintable() else shown(attr, value)))
        elif attr == "job.dir":
            out.append('%s="%s"\n' % (attr, job.dir))
    return "".join(out) + (_extensions(job) if extended else "")


def detailed_rows(ids, jobs_dir, jobs_fd, extended, report, cache=None):
    """``-f``'s blocks of jobs ``ids`` (as :func:`table_rows` takes them),
    each followed by an empty line; ``report(i, problem)`` for a damaged
    ``ids[i]``.  A job the :class:`~gsatellite.listcache.Cache` holds is
    rendered from what it holds, and what else is read joins it."""
    out = []
    for i, job_id in enumerate(ids):
        held = cache.look(job_id) if cache is not None else None
        if held is None:
            view = jobview.Job(job_id, jobs_dir, jobs_fd)
        else:
            view = jobview.Job.holding(job_id, jobs_dir, jobs_fd, dict(held))
        text = detailed(view, extended) + "\n"
        problem = view.damage()
        if problem is not None and held is not None:
            # Only sound jobs are kept: the cache's text is not the job's.
            cache.forget(job_id)
            held = None
            view = jobview.Job(job_id, jobs_dir, jobs_fd)
            text = detailed(view, extended) + "\n"
            problem = view.damage()
        if problem is not None:
            report(i, problem)
            continue
        out.append(text)
        if cache is not None:
            read = view.read_so_far()
            if held is None or any(name not in held for name in read):
                cache.keep(job_id, read)
    return out


def detailed_list(jobs, extended=False):
    """``detailed`` for several jobs, each followed by an empty line (gqstat -f)."""
    return "".join(detailed(j, extended) + "\n" for j in jobs)


# -- --json ------------------------------------------------------------------------

# key -> job file, for single-value text attributes
_TEXT = {
    "name": "job.name", "state": "job.state", "type": "job.type",
    "exec_host": "job.execHost", "reason": "job.reason", "depend": "job.depend",
    "mail_points": "job.mailPoints", "mail_to": "job.mailTo",
    "stdout_path": "job.stdoutPath", "stderr_path": "job.stderrPath",
    "output_error": "job.outputError",
    "stage_in": "job.stageIn", "stage_out": "job.stageOut",
    "staged_out": "job.stagedOut", "stage_out_error": "job.stageOutError",
    "proxy_file": "job.proxyFile", "proxy_hold": "job.proxyHold", "x509_user_proxy": "job.x509UserProxy",
}


def iso(epoch):
    """ISO 8601 local time of ``epoch``; None for a time that cannot be shown."""
    if epoch is None:
        return None
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))
    except (ValueError, OverflowError, OSError):
        return None


def record(job):
    """Every attribute of ``job`` under the stable ``--json`` key names."""
    out = {"id": job.text("job.id") or job.id, "dir": job.dir, "job_file": job.job_file}
    for key, attr in _TEXT.items():
        out[key] = job.text(attr) or None
    for key in ("pid", "sputnik_pid", "exit", "restarts"):
        out[key] = getattr(job, key)
    for key in ("submitted", "start_after", "proxy_not_after"):
        epoch = getattr(job, key)
        out[key + "_epoch"] = epoch
        out[key + "_iso"] = iso(epoch)
    for key in ("starts", "stops"):
        values = getattr(job, key)
        out[key + "_epoch"] = values
        out[key + "_iso"] = [iso(v) for v in values]
    out["events"] = [{"epoch": e.epoch, "iso": iso(e.epoch), "name": e.name, "args": e.args}
                     for e in job.events]
    # The last run's times, of the same run (stop null while it runs).
    for key, attr in (("start", "job.start"), ("stop", "job.stop")):
        epoch = _last_run(job).get(attr) if job.starts else None
        out["run_%s_epoch" % key] = int(epoch) if epoch is not None else None
        out["run_%s_iso" % key] = iso(int(epoch)) if epoch is not None else None
    out["runs"] = len(job.starts)
    return out


def json_text(jobs):
    """The ``gqstat --json`` document for ``jobs``, newline-terminated."""
    return json_document([record(j) for j in jobs])


def json_document(records):
    import json

    return json.dumps(records, indent=2, sort_keys=True) + "\n"


# -- damaged jobs ----------------------------------------------------------------------

def sound(jobs, render, damaged):
    """``render(job)`` of every job that is not damaged, in order.

    A job's files are read while it is rendered, so damage shows only then:
    a damaged job's rendering is dropped and ``damaged(job, problem)`` called
    (see :meth:`gsatellite.job.Job.damage`).
    """
    return sound_at(jobs, render, lambda i, problem: damaged(jobs[i], problem))


def sound_at(jobs, render, report):
    """:func:`sound`, telling a damaged job by its place: ``report(i, problem)``."""
    out = []
    for i, job in enumerate(jobs):
        text = render(job)
        problem = job.damage()
        if problem is None:
            out.append(text)
        else:
            report(i, problem)
    return out

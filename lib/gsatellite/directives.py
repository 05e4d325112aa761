"""``#GSAT`` directives in job scripts, and the job options they set.

Where each directive is read (docs/directives.md has the reasoning):

* ``-T TYPE`` as the classic tool read it: anywhere in the file, from the
  one line that contains ``#GSAT -T``; that line must be exactly
  ``#GSAT -T TYPE`` with a known TYPE.  No such line, several, or another
  spelling: the ``default`` type, with a warning where a directive was
  evidently meant.
* Every other directive (the classic tool read none of them) from the top
  of the script up to the first line that is neither empty nor a comment
  (the ``#!`` line is a comment), as PBS and Slurm read theirs; a directive
  further down is not read and gives a warning.

Recognised options (README.md, "Job scripts and directives"): ``-T TYPE``,
``-N NAME``, ``-o PATH``, ``-e PATH``, ``-m POINTS`` (``n`` or letters of
``abe``), ``-M ADDR[,ADDR]``, ``-a DATETIME``, ``-W depend=TYPE:ID[:ID...]``, the
repeatable ``-i FILE[:NAME]`` and ``-O FILE[:DEST]`` (stage in / out,
:mod:`staging`), whose values are lists, and ``--proxy FILE`` (also written
``--proxy=FILE``: the job's X.509 proxy, :mod:`proxy`).  Unknown directives
give a warning.

A malformed value given as a gqsub option raises :class:`DirectiveError`
(nothing is queued).  A malformed value in a script raises it only when the
script was written for the new options, which :func:`options` recognises by
a valid ``-N``, ``-a`` or ``-W`` directive (options the classic tool never
had); in any other script the directive is ignored with a warning, as the
classic tool ignored it, and the job is queued as the classic tool queued
it.  A bad ``-i``/``-O``/``--proxy`` is always refused: only these tools
know them, and a job that runs without its inputs, whose results are not
copied, or that uses another proxy, is no job the user asked for.
"""

import os

PROXY = "--proxy"
KNOWN = ("-T", "-N", "-o", "-e", "-m", "-M", "-a", "-W", "-i", "-O", PROXY)
# Directives only the new tools know: one with a valid value shows that the
# script was written for them, and makes its directives strict.
NEW_ONLY = ("-N", "-a", "-W", "-i", "-O", PROXY)
# Options given any number of times: their value is a list, and gqsub's
# list replaces the script's (as any option overrides its directive).
REPEATABLE = ("-i", "-O")
# Refused when bad in any script, strict or not (see above).
ALWAYS_CHECKED = REPEATABLE + (PROXY,)
CLASSIC_TYPE = "#GSAT -T"
# Characters a job name may not contain: it becomes the job copy's file name
# and travels inside one-line messages.
_BAD_NAME_CHARS = "/;\n\r\0"
_ADDRESS_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_+=@~!#$%&'*/?^`{|}")


class DirectiveError(Exception):
    pass


class Found(list):
    """``[(option, value), ...]`` of a script, plus ``notes``: warnings about
    lines that look like directives but are not read."""

    def __init__(self, items=(), notes=()):
        super().__init__(items)
        self.notes = list(notes)


def _directive(line):
    """``(option, value)`` of a ``#GSAT`` line (already stripped), or None."""
    if not line.startswith("#GSAT") or line[5:6] not in (" ", "\t"):
        return None
    words = line[5:].split(None, 1)
    if not words:
        return None
    if words[0].startswith("--") and "=" in words[0]:  # --proxy=FILE, as gqsub takes it
        option, _, value = line[5:].strip().partition("=")
        return option, value.strip()
    return words[0], (words[1].strip() if len(words) > 1 else "")


# read_bytes' limit for "the whole file" (its size is checked before).
WHOLE = 1 << 62


def scan(path, limit=1 << 16, most=WHOLE):
    """The directives of the job script at ``path`` as a :class:`Found`:
    the header's directives in order (without ``-T``), preceded by
    ``("-T", TYPE)`` when the classic rule finds a type.  At most ``most``
    bytes are read (the controller: one more than ``max_job_size``, which
    the copy then refuses, so a file swapped for a huge one after its
    size was checked is not read whole)."""
    # A regular file only, opened without blocking: the controller scans
    # a submitted path, which may have become a FIFO since it looked.
    from .fsutil import read_bytes

    return parse(read_bytes(path, None, most), limit)


def parse(data, limit=1 << 16):
    """:func:`scan` of a script's bytes already read (None: no file)."""
    if data is None:
        return Found()
    text = data.decode("utf-8", "surrogateescape")
    found, notes = [], []
    in_header = True
    for raw in text[:limit].splitlines():
        line = raw.strip()
        if not line:
            continue
        if in_header and not line.startswith("#"):
            in_header = False
        d = _directive(line)
        if d is None or d[0].startswith("-T"):
            continue  # the classic rule below reads -T
        if in_header:
            found.append(d)
        else:
            notes.append("'#GSAT %s %s' after the first command is not read" % d)
    chosen, note = classic_type(text, b"\0" in data)
    if note:
        notes.append(note)
    if chosen:
        found.insert(0, ("-T", chosen))
    return Found(found, notes)


def classic_type(text, binary=False):
    """``(type or None, warning or None)`` by the classic rule (see above)."""
    lines = [(n, line) for n, line in enumerate(text.split("\n"), 1) if CLASSIC_TYPE in line]
    meant = [n for n, line in lines if line.lstrip().startswith("#GSAT")]
    if not lines:
        for n, line in enumerate(text.split("\n"), 1):
            d = _directive(line.strip())
            if d and d[0] == "-T":
                return None, ("line %d: '%s' is not read as a job type (write '#GSAT -T TYPE' "
                              "at the start of a line); the job runs as default" % (n, line.strip()))
        return None, None
    if len(lines) > 1:
        if not meant:
            return None, None
        return None, ("%d lines contain '#GSAT -T' (%s): a type is read only from a file with exactly "
                      "one such line; the job runs as default" % (len(lines), ", ".join(str(n) for n, _ in lines)))
    n, line = lines[0]
    if binary or not line.startswith(CLASSIC_TYPE + " "):
        if not meant:
            return None, None
        return None, ("line %d: %r is not read as a job type (write '#GSAT -T TYPE' at the start of a "
                      "line); the job runs as default" % (n, line))
    value = line[len(CLASSIC_TYPE) + 1:]
    from . import jobtypes  # only here: most jobs name no type, and gqsub comes here

    if jobtypes.is_known(value):
        return value, None
    return None, "line %d: unknown job type %r (%s); the job runs as default" % (
        n, value, ", ".join(jobtypes.names()))


def job_type(found):
    """The job type named by the last ``-T``, or None."""
    chosen = None
    for option, value in found:
        if option == "-T":
            chosen = value
    return chosen


def check_name(name):
    try:
        size = len(name.encode())
    except UnicodeEncodeError:  # bytes that are not UTF-8 (a Latin-1 script)
        size = None
    if (not name or name in (".", "..") or any(c in name for c in _BAD_NAME_CHARS) or size is None
            or size > 200):
        raise DirectiveError("invalid job name %r (UTF-8, no '/', ';' or newline; at most 200 bytes)" % name)
    return name


def check_mail_points(points):
    if points == "n":
        return points
    if not points or any(c not in "abe" for c in points):
        raise DirectiveError("invalid mail points %r (use n, or letters of a, b, e)" % points)
    return "".join(sorted(set(points), key="abe".index))


def check_addresses(text):
    addresses = [a.strip() for a in text.split(",")]
    for a in addresses:
        if not a or a.count("@") > 1 or a.startswith("@") or a.endswith("@") or not set(a) <= _ADDRESS_OK:
            raise DirectiveError("invalid mail address %r" % a)
    return ",".join(addresses)


def check_path(value, base):
    if not value or "\n" in value or ";" in value or "\0" in value:
        raise DirectiveError("invalid path %r" % value)
    value = os.path.expanduser(value)
    return value if value.startswith("/") else os.path.normpath(os.path.join(base, value))


def check_condition(option, value):
    """Canonical stored form of a start condition ``-a``/``-W`` value."""
    from . import conditions

    try:
        return conditions.canonical(option, value)
    except conditions.ConditionError as e:
        raise DirectiveError(str(e))


def check_type(value):
    from . import jobtypes

    if not jobtypes.is_known(value):
        raise DirectiveError("unknown job type %r (%s)" % (value, ", ".join(jobtypes.names())))
    return value


def check(option, value, base):
    """The canonical value of one option; raises :class:`DirectiveError`."""
    if option == "-T":
        return check_type(value)
    if option == "-N":
        return check_name(value)
    if option == "-m":
        return check_mail_points(value)
    if option == "-M":
        return check_addresses(value)
    if option in ("-o", "-e"):
        return check_path(value, base)
    if option in ("-a", "-W"):
        return check_condition(option, value)
    if option in REPEATABLE:
        return check_stage(option, value, base)
    if option == PROXY:
        return check_proxy(value, base)
    return value


def check_proxy(value, base):
    """The absolute path of a ``--proxy`` value (its text only: the file
    is checked by whoever can see it, :func:`gsatellite.proxy.check_file`)."""
    from . import proxy

    try:
        return proxy.canonical(value, base)
    except proxy.ProxyError as e:
        raise DirectiveError(str(e))


def check_stage(option, value, base):
    from . import staging

    try:
        return staging.canonical(option, value, base)
    except staging.StageError as e:
        raise DirectiveError(str(e))


def written_for_new_options(found, base):
    """The first valid ``-N``/``-a``/``-W`` directive in ``found``, or None."""
    for option, value in found:
        if option in NEW_ONLY:
            try:
                check(option, value, base)
            except DirectiveError:
                continue
            return option, value
    return None


def options(found, base, overrides=None, warn=None):
    """Effective job options from directives ``found`` and ``overrides``.

    ``base`` is the directory relative paths of ``found`` are taken from;
    ``overrides`` (gqsub's options) win and are always checked strictly.
    Returns a dict with keys of :data:`KNOWN`; raises :class:`DirectiveError`.
    """
    for note in getattr(found, "notes", ()):
        if warn:
            warn(note)
    merged = {}
    for option, value in found:
        if option not in KNOWN:
            if warn:
                warn("unknown directive '#GSAT %s %s' ignored" % (option, value))
            continue
        if option in REPEATABLE:
            merged.setdefault(option, []).append(value)
        else:
            merged[option] = value
    strict = written_for_new_options(found, base)
    out = {}
    for option, value in merged.items():
        if option in (overrides or {}):
            continue
        if option in REPEATABLE:
            try:
                out[option] = [check(option, v, base) for v in value]
            except DirectiveError as e:
                raise DirectiveError("'#GSAT %s': %s" % (option, e))
            continue
        try:
            out[option] = check(option, value, base)
        except DirectiveError as e:
            if option in ALWAYS_CHECKED:
                raise DirectiveError("'#GSAT %s': %s" % (option, e))
            if strict:
                raise DirectiveError("%s (directives are checked: the script uses '#GSAT %s %s')"
                                     % (e, strict[0], strict[1]))
            if warn:
                warn("'#GSAT %s %s' ignored: %s" % (option, value, e))
    for option, value in (overrides or {}).items():
        if option in REPEATABLE:
            out[option] = [check(option, v, base) for v in value]
        else:
            out[option] = check(option, value, base)
    return out


# --- carrying options in a QSUB message ----------------------------------------

def encode(opts):
    """``{"-N": "x y"}`` -> ``"-N=x%20y"`` (no white space, ``;`` or
    newlines); a list value gives one word per item."""
    from .protocol import quote_word

    return " ".join("%s=%s" % (k, quote_word(v)) for k, values in sorted(opts.items())
                    for v in (values if k in REPEATABLE else [values]))


def decode(text):
    from .protocol import unquote_word

    out = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if not sep or key not in KNOWN:
            raise DirectiveError("bad option %r in request" % word)
        if key in REPEATABLE:
            out.setdefault(key, []).append(unquote_word(value))
        else:
            out[key] = unquote_word(value)
    return out

"""``#GSAT`` directives in job scripts, and the job options they set.

Directives are lines ``#GSAT -X VALUE`` read from the top of the script up to
the first line that is neither empty nor a comment (the ``#!`` line is a
comment).  They are parsed at submission; gqsub options override them.

Recognised options (README.md, "Job scripts and directives"): ``-T TYPE``, ``-N NAME``, ``-o PATH``,
``-e PATH``, ``-m POINTS`` (``n`` or letters of ``abe``), ``-M ADDR[,ADDR]``,
``-a DATETIME``, ``-W depend=TYPE:ID[:ID...]``.  Unknown directives give a
warning; a malformed value raises :class:`DirectiveError`.
"""

import os

KNOWN = ("-T", "-N", "-o", "-e", "-m", "-M", "-a", "-W")
# Characters a job name may not contain: it becomes the job copy's file name
# and travels inside one-line messages.
_BAD_NAME_CHARS = "/;\n\r\0"
_ADDRESS_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_+=@~!#$%&'*/?^`{|}")


class DirectiveError(Exception):
    pass


def scan(path, limit=1 << 16):
    """``[(option, value), ...]`` of the job script at ``path``, in order."""
    try:
        with open(path, "rb") as f:
            head = f.read(limit)
    except OSError:
        return []
    found = []
    for raw in head.decode("utf-8", "surrogateescape").splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("#"):
            break
        if not line.startswith("#GSAT") or line[5:6] not in (" ", "\t"):
            continue
        words = line[5:].split(None, 1)
        if not words:
            continue
        option = words[0]
        value = words[1].strip() if len(words) > 1 else ""
        found.append((option, value))
    return found


def job_type(found):
    """The job type named by the last ``-T``, or None."""
    chosen = None
    for option, value in found:
        if option == "-T":
            chosen = value
    return chosen


def check_name(name):
    if not name or name in (".", "..") or any(c in name for c in _BAD_NAME_CHARS) or len(name.encode()) > 200:
        raise DirectiveError("invalid job name %r (no '/', ';' or newline; at most 200 bytes)" % name)
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
    if not value or "\n" in value or ";" in value:
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


def options(found, base, overrides=None, warn=None):
    """Effective job options from directives ``found`` and ``overrides``.

    ``base`` is the directory relative paths are taken from.  Returns a dict
    with keys of :data:`KNOWN`; raises :class:`DirectiveError`.
    """
    merged = {}
    for option, value in found:
        if option not in KNOWN:
            if warn:
                warn("unknown directive '#GSAT %s %s' ignored" % (option, value))
            continue
        merged[option] = value
    merged.update(overrides or {})
    out = {}
    for option, value in merged.items():
        if option == "-N":
            out[option] = check_name(value)
        elif option == "-m":
            out[option] = check_mail_points(value)
        elif option == "-M":
            out[option] = check_addresses(value)
        elif option in ("-o", "-e"):
            out[option] = check_path(value, base)
        elif option in ("-a", "-W"):
            out[option] = check_condition(option, value)
        else:
            out[option] = value
    return out


# --- carrying options in a QSUB message ----------------------------------------

def encode(opts):
    """``{"-N": "x y"}`` -> ``"-N=x%20y"`` (no white space, ``;`` or newlines)."""
    from .protocol import quote_word

    return " ".join("%s=%s" % (k, quote_word(v)) for k, v in sorted(opts.items()))


def decode(text):
    from .protocol import unquote_word

    out = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if not sep or key not in KNOWN:
            raise DirectiveError("bad option %r in request" % word)
        out[key] = unquote_word(value)
    return out

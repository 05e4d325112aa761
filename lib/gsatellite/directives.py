"""``#GSAT`` directives in job scripts.

Directives are lines ``#GSAT -X VALUE`` read from the top of the script up to
the first line that is neither empty nor a comment (the ``#!`` line is a
comment).  They are parsed once, at submission.
"""


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

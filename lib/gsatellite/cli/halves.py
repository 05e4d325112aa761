"""Render a long listing in two processes, one per half (gqstat, issue 18).

Listing 10,000 jobs is some 70,000 system calls, most of its time in the
kernel, so a second processor halves it: a forked child renders the second
half with the very same code (:mod:`gsatellite.views`) and sends its
text and its damaged-job messages back through a pipe; the parent renders
the first half meanwhile.  Output and messages come out in job order, byte
for byte what one process prints.

Anything unexpected (no second processor, a short listing, fork or the pipe
failing, a child that dies) falls back to rendering in this process: the
split only ever makes a listing faster, never different.
"""

import os

# Below this many items a fork costs more than it saves.
MIN_JOBS = 1000
# Separates the child's damage messages from its text: the table and -f
# escape every control character, so a NUL appears in neither.
_SEP = "\0"


def _processors():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def sound(items, render, report, cache=None):
    """``"".join(render(items, report))``, the second half in a child:
    ``render(part, report)`` returns the texts of a slice of ``items`` and
    calls ``report(i, problem)`` for its damaged item ``i`` (a place in the
    slice; :func:`views.sound_at`, :func:`views.table_rows`).  Here
    ``report(i, problem)`` is called with places in ``items``, in order.
    For renderings without control characters: the table and ``-f``.
    What the child changed in the listing ``cache``
    (:class:`gsatellite.listcache.Cache`, which ``render`` uses) comes
    back with its text."""
    if len(items) < MIN_JOBS or _processors() < 2:
        return "".join(render(items, report))
    half = len(items) // 2
    child = _fork(items[half:], render, cache)
    if child is None:
        return "".join(render(items, report))
    first = "".join(render(items[:half], report))
    problems, kept, second = _collect(*child)
    if cache is not None and kept:
        cache.take(kept)
    if second is None:  # the child failed: render its half here
        return first + "".join(render(items[half:], lambda i, problem: report(half + i, problem)))
    for line in problems:
        index, _, problem = line.partition(" ")
        report(half + int(index), problem)
    return first + second


def _fork(items, render, cache):
    """Start the child rendering ``items``; ``(pid, read end)`` or None."""
    try:
        r, w = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return None
    if pid:
        os.close(w)
        return pid, r
    # The child: render, send, and leave without running the parent's
    # clean-up (atexit, buffered stdout) a second time.
    code = 1
    try:
        os.close(r)
        problems = []
        # By place, not id: an id is any name in jobs/ (spaces too).
        text = "".join(render(items, lambda i, problem: problems.append(
            "%d %s" % (i, problem.replace("\n", " ")))))
        kept = "" if cache is None else cache.dump()
        data = _SEP.join(("\n".join(problems), kept, text)).encode("utf-8", "surrogateescape")
        view = memoryview(data)
        while view:
            view = view[os.write(w, view):]
        code = 0
    finally:
        os._exit(code)


def _collect(pid, r):
    """``(damage lines, cache changes, text)`` from the child; text None
    when it failed."""
    chunks = []
    try:
        while True:
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        chunks = None
    finally:
        os.close(r)
    try:
        _, status = os.waitpid(pid, 0)
    except OSError:
        status = 1
    if chunks is None or status != 0:
        return [], "", None
    parts = b"".join(chunks).decode("utf-8", "surrogateescape").split(_SEP, 2)
    if len(parts) < 3:
        return [], "", None
    problems, kept, text = parts
    return (problems.split("\n") if problems else []), kept, text

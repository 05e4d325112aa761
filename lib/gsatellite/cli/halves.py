"""Render a long listing in two processes, one per half (gqstat, issue 18).

Listing 10,000 jobs is some 90,000 system calls, most of its time in the
kernel, so a second processor halves it: a forked child renders the second
half with the very same code (:func:`gsatellite.views.sound`) and sends its
text and its damaged-job messages back through a pipe; the parent renders
the first half meanwhile.  Output and messages come out in job order, byte
for byte what one process prints.

Anything unexpected (no second processor, a short listing, fork or the pipe
failing, a child that dies) falls back to rendering in this process: the
split only ever makes a listing faster, never different.
"""

import os

from .. import views

# Below this many jobs a fork costs more than it saves.
MIN_JOBS = 1000
# Separates the child's damage messages from its text: the table and -f
# escape every control character, so a NUL appears in neither.
_SEP = "\0"


def _processors():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def sound(jobs, render, damaged):
    """Like :func:`views.sound`, returns the rendered text of ``jobs`` (for
    renderings without control characters: the table and ``-f``);
    ``damaged(job, problem)`` is called in job order."""
    if len(jobs) < MIN_JOBS or _processors() < 2:
        return "".join(views.sound(jobs, render, damaged))
    half = len(jobs) // 2
    child = _fork(jobs[half:], render)
    if child is None:
        return "".join(views.sound(jobs, render, damaged))
    first = "".join(views.sound(jobs[:half], render, damaged))
    problems, second = _collect(*child)
    if second is None:  # the child failed: render its half here
        return first + "".join(views.sound(jobs[half:], render, damaged))
    for line in problems:
        index, _, problem = line.partition(" ")
        damaged(jobs[half + int(index)], problem)
    return first + second


def _fork(jobs, render):
    """Start the child rendering ``jobs``; ``(pid, read end)`` or None."""
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
        where = {id(job): i for i, job in enumerate(jobs)}
        # By position, not id: an id is any name in jobs/ (spaces too).
        text = "".join(views.sound(jobs, render, lambda job, problem: problems.append(
            "%d %s" % (where[id(job)], problem.replace("\n", " ")))))
        data = ("\n".join(problems) + _SEP + text).encode("utf-8", "surrogateescape")
        view = memoryview(data)
        while view:
            view = view[os.write(w, view):]
        code = 0
    finally:
        os._exit(code)


def _collect(pid, r):
    """``(damage lines, text)`` from the child; text None when it failed."""
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
        return [], None
    problems, sep, text = b"".join(chunks).decode("utf-8", "surrogateescape").partition(_SEP)
    if not sep:
        return [], None
    return (problems.split("\n") if problems else []), text

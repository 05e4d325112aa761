"""Submitting a mailed job script at most once, even across a crash.

The script is written to a private file under ``G/mail/spool`` (the
controller copies the job from a path) and submitted with
:func:`gsatellite.client.submit`.  Before that, the journal entry records
the attempt: this process's host and PID (the owner of the answer box the
controller records as the job's ``job.submitBox``) and the first job id
the submission could get.  When a later run finds the entry still
``processing`` and its process gone, it looks for a job with id >= that
first id submitted from that process's answer box:

* found: the job was submitted; the reply names it.
* not found: the spool file is renamed away first, so a request still
  unread in the controller's inbox can no longer take effect (the
  controller refuses a QSUB whose file is gone), and the script is
  submitted again from a new file, as a new attempt.
"""

import os

from .. import client, job, paths, transport
from . import TempFail
from .keyring import path as mail_path
from ..protocol import digits


def _attempts(entry):
    """``[(host, pid, first)]`` recorded in ``entry``."""
    out = []
    for item in (entry.get("attempts") or "").split():
        host, pid, first = item.rsplit(":", 2)
        out.append((host, int(pid), int(first)))
    return out


def find(entry):
    """The id of a job submitted by one of ``entry``'s attempts, or None."""
    attempts = _attempts(entry)
    if not attempts:
        return None
    first = min(a[2] for a in attempts)
    owners = {(a[0], a[1]) for a in attempts}
    for job_id in job.ids():
        if digits(job_id) and int(job_id) >= first:
            box = job.Job(job_id).submit_box
            if box and transport.owner(box) in owners:
                return job_id
    return None


def spool_file(key, attempt):
    return mail_path("spool", "mail-%s.%d.job" % (key[:12], attempt))


def void(entry):
    """Make every earlier attempt's request unable to take effect."""
    for script in (entry.get("scripts") or "").split():
        try:
            os.rename(script, script + ".void")
        except FileNotFoundError:
            pass


def attempt(entry, key):
    """Add a new attempt by this process to ``entry`` (a dict); it must be
    recorded in the journal before :func:`submit` sends anything."""
    number = len(_attempts(entry)) + 1
    entry["attempts"] = ("%s %s:%d:%d" % (entry.get("attempts", ""), paths.hostname(), os.getpid(), job.next_id())).strip()
    entry["scripts"] = ("%s %s" % (entry.get("scripts", ""), spool_file(key, number))).strip()
    return entry


def submit(script, entry, hook):
    """Submit ``script`` as the last attempt recorded in ``entry`` (see
    :func:`attempt`); returns ``(reply text, exit value)``.

    :class:`TempFail` when nothing was submitted and a retry may succeed,
    or (``keep``) when the controller received the job without answering:
    the entry keeps the attempt, so the next run finds the job.
    """
    path = entry["scripts"].split()[-1]
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        try:
            os.write(fd, script.encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)
    except OSError as e:
        _remove(path)
        raise TempFail("cannot write %s: %s" % (path, e.strerror))
    warnings = []
    try:
        result = client.submit([path], warn=lambda _path, text: warnings.append(text))[0]
    except (client.NotRunning, client.Unreachable) as e:
        _remove(path)
        raise TempFail(e.message)
    except client.BadJobFile as e:
        _remove(path)
        return e.message.replace(path, "the mailed script") + "\n", e.exit_code
    hook("submitted")
    if isinstance(result, client.Unconfirmed):
        raise TempFail(result.message, keep=True)
    _remove(path)
    if isinstance(result, client.NotSubmitted):
        raise TempFail(result.message)
    notes = "".join("warning: %s\n" % w for w in warnings)
    if isinstance(result, client.Submitted):
        return notes + "jobId:%s\n" % result.job_id, 0
    return notes + "qsub failed! (%s)\n" % result.answer, result.exit_code


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

"""Start conditions of a job: deferred start (``-a``) and dependencies (``-W``).

``-a DATETIME`` accepts ISO 8601 (``2026-12-01T14:00``, ``2026-12-01 14:00``)
and PBS's ``[[[[CC]YY]MM]DD]hhmm[.SS]``; its canonical form is ``@EPOCH``
and it is stored as epoch seconds in ``job.startAfter``.  ``-W depend=TYPE:ID[:ID...][,TYPE:ID...]`` with TYPE one
of ``afterok``, ``afterany``, ``afternotok`` is stored canonically in
``job.depend``.  :func:`blocked` tells the controller whether a queued job
may start now, must wait, or can never start.

Malformed values raise :class:`ConditionError`; :mod:`directives` turns it
into its own error, so this module never imports it.
"""

import time

from . import states

DEPEND_TYPES = ("afterok", "afterany", "afternotok")


class ConditionError(Exception):
    pass


def parse_time(text, now=None):
    """Epoch seconds for a ``-a`` value; raises :class:`ConditionError`."""
    now = time.time() if now is None else now
    value = text.strip()
    if value.startswith("@") and value[1:].isdigit():
        return int(value[1:])  # already canonical (epoch seconds)
    digits, _, secs = value.partition(".")
    if digits.isdigit() and len(digits) in (4, 6, 8, 10, 12) and (not secs or (secs.isdigit() and len(secs) == 2)):
        return _pbs_time(digits, int(secs or 0), now)
    try:
        from dateutil import parser
    except ImportError:  # pragma: no cover - dependency missing
        raise ConditionError("python-dateutil is needed to parse %r" % text)
    try:
        dt = parser.isoparse(value)
    except (ValueError, OverflowError):
        try:
            dt = parser.parse(value)
        except (ValueError, OverflowError):
            raise ConditionError("cannot parse date/time %r" % text)
    if dt.tzinfo is None:
        return time.mktime(dt.timetuple())
    return dt.timestamp()


def _pbs_time(digits, seconds, now):
    lt = time.localtime(now)
    fields = {"Y": lt.tm_year, "M": lt.tm_mon, "D": lt.tm_mday}
    rest = digits
    if len(rest) == 12:
        fields["Y"], rest = int(rest[:4]), rest[4:]
    elif len(rest) == 10:
        fields["Y"], rest = 2000 + int(rest[:2]), rest[2:]
    if len(rest) == 8:
        fields["M"], rest = int(rest[:2]), rest[2:]
    if len(rest) == 6:
        fields["D"], rest = int(rest[:2]), rest[2:]
    hour, minute = int(rest[:2]), int(rest[2:4])
    if not (1 <= fields["M"] <= 12 and 1 <= fields["D"] <= 31 and hour < 24 and minute < 60 and seconds < 60):
        raise ConditionError("invalid date/time %r" % digits)
    when = time.mktime((fields["Y"], fields["M"], fields["D"], hour, minute, seconds, 0, 0, -1))
    if len(digits) == 4 and when < now:
        when += 86400  # PBS: an hhmm already past today means tomorrow
    return when


def parse_depend(text):
    """``"depend=afterok:1:2,afterany:3"`` -> ``[("afterok", ["00001", "00002"]), ...]``."""
    from .jobstore import canonical_id

    value = text.strip()
    if value.startswith("depend="):
        value = value[len("depend="):]
    elif not value.startswith(DEPEND_TYPES):
        raise ConditionError("unsupported -W value %r (use depend=TYPE:ID[:ID...])" % text)
    out = []
    for part in value.split(","):
        words = part.split(":")
        if len(words) < 2 or words[0] not in DEPEND_TYPES:
            raise ConditionError("invalid dependency %r (types: %s)" % (part, ", ".join(DEPEND_TYPES)))
        ids = []
        for w in words[1:]:
            cid = canonical_id(w)
            if cid is None:
                raise ConditionError("invalid job id %r in dependency" % w)
            ids.append(cid)
        out.append((words[0], ids))
    return out


def format_depend(deps):
    return ",".join("%s:%s" % (t, ":".join(ids)) for t, ids in deps)


def canonical(option, value):
    """Canonical stored form of a ``-a`` or ``-W`` value (raises ConditionError)."""
    if option == "-a":
        return "@%d" % parse_time(value)
    return format_depend(parse_depend(value))


def blocked(store, job_id, now):
    """``(verdict, reason)``: verdict is None (may start), "wait" or "never"."""
    after = (store.read(job_id, "job.startAfter", "") or "").strip()
    if after.isdigit() and int(after) > now:
        return "wait", "deferred until %s" % time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(int(after)))
    spec = (store.read(job_id, "job.depend", "") or "").strip()
    if not spec:
        return None, None
    for kind, ids in parse_depend("depend=" + spec):
        for dep in ids:
            if not store.exists(dep):
                return "never", "dependency %s:%s: job no longer exists" % (kind, dep)
            state = store.state(dep)
            if state not in states.ENDED:
                return "wait", "waiting for %s:%s (%s)" % (kind, dep, state)
            if kind == "afterok" and state != states.FINISHED:
                return "never", "dependency afterok:%s failed" % dep
            if kind == "afternotok" and state != states.FAILED:
                return "never", "dependency afternotok:%s finished successfully" % dep
    return None, None

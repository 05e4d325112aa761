"""Start conditions of a job: deferred start (``-a``) and dependencies (``-W``).

``-a DATETIME`` accepts ISO 8601 (``2026-12-01T14:00``, ``2026-12-01 14:00``)
and PBS's ``[[[[CC]YY]MM]DD]hhmm[.SS]``; its canonical form is ``@EPOCH``
and it is stored as epoch seconds in ``job.startAfter``.  ``-W depend=TYPE:ID[:ID...][,TYPE:ID...]`` with TYPE one
of ``afterok``, ``afterany``, ``afternotok`` is stored canonically in
``job.depend``.  :func:`blocked` tells the controller whether a queued job
may start now, must wait, or can never start.

Every value is range-checked here, for gqsub and the controller alike: a
time must lie in the years 1970 to 9999 (:data:`MAX_EPOCH`), a time-zone
offset within +-18:00, a job id within :data:`jobstore.MAX_ID_DIGITS`
digits.  A stored value that fails these checks (written by hand, by an
old or a classic tool) makes :func:`blocked` answer "never" with the
reason, so the controller fails that one job instead of crashing.

Malformed values raise :class:`ConditionError`; :mod:`directives` turns it
into its own error, so this module never imports it.
"""

import time

from . import states
from .protocol import digits as _ascii_digits

DEPEND_TYPES = ("afterok", "afterany", "afternotok")
# The latest start time: 9999-12-31T23:59:59Z.  Beyond it time.localtime,
# datetime and strftime stop working on some platforms.
MAX_EPOCH = 253402300799
# The largest time-zone offset accepted (ISO 8601 tools agree on +-18:00;
# real zones lie within -12:00 and +14:00).
MAX_OFFSET = 18 * 3600


class ConditionError(Exception):
    pass


def check_epoch(when, text):
    """``when`` as whole epoch seconds if it lies in 1970..9999, else
    :class:`ConditionError` naming ``text``."""
    if not 0 <= when <= MAX_EPOCH:
        raise ConditionError("date/time %r out of range (years 1970 to 9999)" % text)
    return int(when)


def parse_time(text, now=None):
    """Epoch seconds for a ``-a`` value; raises :class:`ConditionError`."""
    now = time.time() if now is None else now
    value = text.strip()
    if not value.isascii():
        # dateutil reads other scripts' digits ("٣" for 3): refused, as
        # every number we take is ASCII.
        raise ConditionError("cannot parse date/time %r (ASCII only)" % text)
    if value.startswith("@") and value[1:].isdigit() and value[1:].isascii():
        return check_epoch(int(value[1:]), text)  # already canonical
    try:
        return check_epoch(_parse_time(value, text, now), text)
    except (OverflowError, OSError, ValueError) as e:
        raise ConditionError("date/time %r cannot be represented: %s" % (text, e))


def _parse_time(value, text, now):
    digits, _, secs = value.partition(".")
    if _ascii_digits(digits) and len(digits) in (4, 6, 8, 10, 12) and (not secs or (_ascii_digits(secs) and len(secs) == 2)):
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
    try:
        offset = dt.utcoffset().total_seconds()
    except ValueError:  # datetime refuses offsets of 24 hours or more
        offset = MAX_OFFSET + 1
    if abs(offset) > MAX_OFFSET:
        raise ConditionError("time-zone offset of %r out of range (at most +-18:00)" % text)
    return dt.timestamp()


def _days_in(year, month):
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


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
    if not (1 <= fields["M"] <= 12 and 1 <= fields["D"] <= _days_in(fields["Y"], fields["M"]) and hour < 24
            and minute < 60 and seconds < 60):
        # (mktime would roll 0229 of a common year over into 1 March)
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


def start_after(store, job_id):
    """The job's stored ``-a`` time in epoch seconds, or None when it has
    none; :class:`ConditionError` for a value no tool could have written."""
    after = (store.read(job_id, "job.startAfter", "") or "").strip()
    if not after:
        return None
    if not (after.isdigit() and after.isascii()):
        raise ConditionError("job.startAfter holds %r, not epoch seconds" % after[:40])
    try:
        return check_epoch(int(after), after[:40])
    except ConditionError as e:
        raise ConditionError("job.startAfter: %s" % e)


def blocked(store, job_id, now):
    """``(verdict, reason)``: verdict is None (may start), "wait" or "never".

    A stored value that cannot be used is "never", with the reason."""
    try:
        after = start_after(store, job_id)
    except ConditionError as e:
        return "never", "unusable start condition: %s" % e
    if after is not None and after > now:
        return "wait", "deferred until %s" % time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(after))
    spec = (store.read(job_id, "job.depend", "") or "").strip()
    if not spec:
        return None, None
    try:
        deps = parse_depend("depend=" + spec)
    except ConditionError as e:
        return "never", "unusable job.depend: %s" % e
    for kind, ids in deps:
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

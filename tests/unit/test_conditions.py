"""Unit tests of the start conditions (lib/gsatellite/conditions.py).

``parse_time`` is checked against ISO 8601 variants, every PBS digit form
(with a fixed ``now`` so "today" and "tomorrow" are known), ``@EPOCH`` and
malformed values; ``parse_depend``/``format_depend``/``check_condition`` against the
canonical ``-W`` form; ``blocked`` against a real :class:`JobStore` in a
temporary ``$HOME``, job states being set the way the controller sets them.
"""

import calendar
import time

import pytest

from gsatellite import paths, states
from gsatellite.conditions import (
    ConditionError,
    blocked,
    format_depend,
    parse_depend,
    parse_time,
)
from gsatellite.directives import DirectiveError
from gsatellite.directives import check_condition as check
from gsatellite.jobstore import JobStore


def local(y, mo, d, h, mi, s=0):
    return time.mktime((y, mo, d, h, mi, s, 0, 0, -1))


# A fixed "now": 2026-06-15 12:00:00 local time.
NOW = local(2026, 6, 15, 12, 0)


# -- parse_time: ISO 8601 -----------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2026-12-01T14:00", local(2026, 12, 1, 14, 0)),
    ("2026-12-01 14:00", local(2026, 12, 1, 14, 0)),
    ("2026-12-01T14:00:30", local(2026, 12, 1, 14, 0, 30)),
    ("2026-12-01 14:00:30", local(2026, 12, 1, 14, 0, 30)),
    ("  2026-12-01T14:00  ", local(2026, 12, 1, 14, 0)),
    ("2026-12-01", local(2026, 12, 1, 0, 0)),
])
def test_parse_time_iso_local(text, expected):
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize("text, expected", [
    ("2026-12-01T14:00:00Z", calendar.timegm((2026, 12, 1, 14, 0, 0))),
    ("2026-12-01T14:00:00+00:00", calendar.timegm((2026, 12, 1, 14, 0, 0))),
    ("2026-12-01T14:00:00+02:00", calendar.timegm((2026, 12, 1, 12, 0, 0))),
    ("2026-12-01T14:00-05:30", calendar.timegm((2026, 12, 1, 19, 30, 0))),
])
def test_parse_time_iso_with_offset_is_absolute(text, expected):
    assert parse_time(text, now=NOW) == expected


# -- parse_time: PBS [[[[CC]YY]MM]DD]hhmm[.SS] --------------------------------

@pytest.mark.parametrize("text, expected", [
    ("202612011430", local(2026, 12, 1, 14, 30)),
    ("202612011430.45", local(2026, 12, 1, 14, 30, 45)),
    ("2612011430", local(2026, 12, 1, 14, 30)),
    ("2612011430.05", local(2026, 12, 1, 14, 30, 5)),
    ("12011430", local(2026, 12, 1, 14, 30)),   # year of `now`
    ("02011430", local(2026, 2, 1, 14, 30)),    # in the past: stays past
    ("201430", local(2026, 6, 20, 14, 30)),     # month of `now`
    ("1430", local(2026, 6, 15, 14, 30)),       # later today
    ("1430.59", local(2026, 6, 15, 14, 30, 59)),
    ("1130", local(2026, 6, 16, 11, 30)),       # hhmm already past: tomorrow
    ("1200", local(2026, 6, 15, 12, 0)),        # exactly now is not past
])
def test_parse_time_pbs_forms(text, expected):
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize("text", [
    "2360",            # minute 60
    "2400",            # hour 24
    "13011200",        # month 13
    "00011200",        # month 0
    "32101200",        # day 32 (DDhhmm read as MMDDhhmm: month 32)
    "321200",          # day 32
    "001200",          # day 0
    "1430.60",         # second 60
])
def test_parse_time_pbs_out_of_range(text):
    with pytest.raises(ConditionError):
        parse_time(text, now=NOW)


# -- parse_time: canonical and malformed -------------------------------------

def test_parse_time_epoch_form():
    assert parse_time("@1700000000", now=NOW) == 1700000000
    assert parse_time("@0", now=NOW) == 0


@pytest.mark.parametrize("text", [
    "notadate", "", "   ", "2026-13-01T10:00", "2026-12-32", "2026-12-01T25:00",
    "@", "@12x", "tomorrow-ish",
])
def test_parse_time_refuses_malformed(text):
    with pytest.raises(ConditionError):
        parse_time(text, now=NOW)


def test_check_gives_canonical_forms_and_directive_errors():
    assert check("-a", "@1700000000") == "@1700000000"
    assert check("-a", "2026-12-01T14:00") == "@%d" % local(2026, 12, 1, 14, 0)
    assert check("-W", "depend=afterok:1:22") == "afterok:00001:00022"
    with pytest.raises(DirectiveError) as e:
        check("-a", "notadate")
    assert "notadate" in str(e.value)
    with pytest.raises(DirectiveError):
        check("-W", "depend=afterwhat:1")


# -- parse_depend / format_depend -----------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("depend=afterok:1", [("afterok", ["00001"])]),
    ("depend=afterok:1:2,afterany:3", [("afterok", ["00001", "00002"]), ("afterany", ["00003"])]),
    ("depend=afternotok:00042", [("afternotok", ["00042"])]),
    ("afterany:7", [("afterany", ["00007"])]),   # the stored form, without depend=
    (" depend=afterok:5 ", [("afterok", ["00005"])]),
])
def test_parse_depend(text, expected):
    assert parse_depend(text) == expected


@pytest.mark.parametrize("text", [
    "depend=afterfoo:1",
    "depend=afterok",
    "depend=afterok:",
    "depend=afterok:x",
    "depend=afterok:1:",
    "depend=afterok:-1",
    "depend=afterok:1,",
    "depend=",
    "foo=bar",
    "before:1",
    "depend=afterok:1;afterany:2",
])
def test_parse_depend_refuses(text):
    with pytest.raises(ConditionError):
        parse_depend(text)


def test_format_depend_round_trip():
    deps = [("afterok", ["00001", "00002"]), ("afternotok", ["00003"])]
    text = format_depend(deps)
    assert text == "afterok:00001:00002,afternotok:00003"
    assert parse_depend("depend=" + text) == deps
    assert parse_depend(text) == deps


# -- blocked() against a real store -----------------------------------------------

@pytest.fixture
def store(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    paths.reset()
    s = JobStore()
    s.ensure()
    yield s
    paths.reset()


@pytest.fixture
def new_job(store, tmp_path):
    source = tmp_path / "work.job"
    source.write_text("#!/bin/bash\ntrue\n")

    def make(state=states.QUEUED, depend=None, start_after=None):
        job_id, _ = store.new_id()
        attrs = {}
        if depend is not None:
            attrs["job.depend"] = depend
        if start_after is not None:
            attrs["job.startAfter"] = start_after
        store.create(job_id, str(source), "default", attrs=attrs)
        if state != states.QUEUED:
            store.set_state(job_id, state, notify=False)
        return job_id

    return make


def test_blocked_without_conditions(store, new_job):
    j = new_job()
    assert blocked(store, j, time.time()) == (None, None)


def test_blocked_deferred_until_time(store, new_job):
    j = new_job(start_after=1000)
    verdict, reason = blocked(store, j, 999)
    assert verdict == "wait"
    expected = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1000))
    assert reason == "deferred until %s" % expected
    assert blocked(store, j, 1000) == (None, None)
    assert blocked(store, j, 5000) == (None, None)


@pytest.mark.parametrize("kind, parent_state, verdict, reason", [
    ("afterok", states.QUEUED, "wait", "waiting for afterok:00000 (queued)"),
    ("afterok", states.RUNNING, "wait", "waiting for afterok:00000 (running)"),
    ("afterok", states.HELD, "wait", "waiting for afterok:00000 (held)"),
    ("afterok", states.FINISHED, None, None),
    ("afterok", states.FAILED, "never", "dependency afterok:00000 failed"),
    ("afterany", states.RUNNING, "wait", "waiting for afterany:00000 (running)"),
    ("afterany", states.FINISHED, None, None),
    ("afterany", states.FAILED, None, None),
    ("afternotok", states.RUNNING, "wait", "waiting for afternotok:00000 (running)"),
    ("afternotok", states.FAILED, None, None),
    ("afternotok", states.FINISHED, "never", "dependency afternotok:00000 finished successfully"),
])
def test_blocked_by_one_dependency(store, new_job, kind, parent_state, verdict, reason):
    parent = new_job(state=parent_state)
    assert parent == "00000"
    child = new_job(depend="%s:%s" % (kind, parent))
    assert blocked(store, child, time.time()) == (verdict, reason)


def test_blocked_on_vanished_parent_is_never(store, new_job):
    parent = new_job(state=states.FINISHED)
    child = new_job(depend="afterany:%s" % parent)
    store.remove(parent)
    verdict, reason = blocked(store, child, time.time())
    assert verdict == "never"
    assert reason == "dependency afterany:00000: job no longer exists"


def test_blocked_needs_every_dependency(store, new_job):
    a = new_job(state=states.FINISHED)
    b = new_job(state=states.RUNNING)
    c = new_job(state=states.FAILED)
    child = new_job(depend="afterok:%s:%s,afternotok:%s" % (a, b, c))
    assert blocked(store, child, time.time()) == ("wait", "waiting for afterok:%s (running)" % b)
    store.set_state(b, states.FINISHED, notify=False)
    assert blocked(store, child, time.time()) == (None, None)
    store.set_state(b, states.FAILED, notify=False)
    assert blocked(store, child, time.time()) == ("never", "dependency afterok:%s failed" % b)


def test_blocked_deferred_and_dependent(store, new_job):
    parent = new_job(state=states.FINISHED)
    child = new_job(depend="afterok:%s" % parent, start_after=2000)
    assert blocked(store, child, 1999)[0] == "wait"
    assert blocked(store, child, 2000) == (None, None)
    store.set_state(parent, states.FAILED, notify=False)
    assert blocked(store, child, 2000)[0] == "never"


@pytest.mark.parametrize("text", ["02290000", "202702290000", "04310800", "\u0663", "2026-01-01T00:00+\u0660\u0661:00"])
def test_a_day_that_does_not_exist_or_other_scripts_digits_are_refused(text):
    """Found by a review: mktime rolled 29 February of a common year into
    1 March and 31 April into 1 May; dateutil read Arabic-Indic digits."""
    with pytest.raises(ConditionError):
        parse_time(text, now=time.mktime((2026, 1, 15, 12, 0, 0, 0, 0, -1)))


def test_29_february_of_a_leap_year_is_taken():
    assert parse_time("202802290000") == time.mktime((2028, 2, 29, 0, 0, 0, 0, 0, -1))

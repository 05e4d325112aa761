"""Issue 11, values: every value is range-checked where it enters, and a
stored value that cannot be used fails its one job instead of a daemon.

Each test is named after what broke: ``-a @99999999999999999999`` was
accepted and crashed the controller on every start, ``+99:00`` crashed
gqsub, a 14-digit id was handed out, the controller kept one entry per
ended job for ever, gqstat printed control characters raw and a newline in
trigger arguments made two events.
"""

import json
import os

import pytest

from gsatellite import conditions, jobstore, paths, states, views
from gsatellite import job as jobs
from gsatellite.conditions import ConditionError, parse_time
from gsatellite.directives import DirectiveError
from gsatellite.directives import check_condition as check
from gsatellite.triggers import event_line

from .test_controller_handlers import ask, script, submit
from gsatellite import protocol as P


# -- range checks at submission --------------------------------------------------------

@pytest.mark.parametrize("text", [
    "@99999999999999999999",      # the example: OverflowError in the controller
    "@253402300800",              # one second past 9999-12-31T23:59:59Z
    "10000-01-01T00:00",
    "1969-12-31T00:00Z",
    "0001-01-01T00:00",
    "2026-01-01T00:00+99:00",     # ValueError out of datetime.timestamp()
    "2026-01-01 00:00 +2500",
    "2026-01-01T00:00-19:00",
])
def test_out_of_range_start_time_is_refused_at_submission(text):
    with pytest.raises(ConditionError):
        parse_time(text)
    with pytest.raises(DirectiveError):
        check("-a", text)


@pytest.mark.parametrize("text, epoch", [
    ("@0", 0),
    ("@253402300799", 253402300799),
    ("9999-12-31T23:59:59Z", 253402300799),
    ("2026-01-01T00:00+14:00", 1767175200),
    ("2026-01-01T00:00-12:00", 1767268800),
])
def test_start_times_at_the_edges_of_the_range_are_accepted(text, epoch):
    assert parse_time(text) == epoch


@pytest.mark.parametrize("text", ["depend=afterok:1234567890123", "afterany:99999999999999999999"])
def test_dependency_on_an_id_wider_than_the_tools_accept_is_refused(text):
    with pytest.raises(DirectiveError, match="invalid job id"):
        check("-W", text)


# -- a stored value the controller cannot use -------------------------------------------

@pytest.mark.parametrize("attr, value", [
    ("job.startAfter", "99999999999999999999"),
    ("job.startAfter", "-5"),
    ("job.startAfter", "tomorrow"),
    ("job.depend", "afterok:99999999999999999999"),
    ("job.depend", "sometime:1"),
])
def test_unusable_stored_condition_fails_only_its_job(make_controller, home, attr, value):
    c = make_controller(scheduler="nobatch")
    bad, good = submit(c, home, "bad.job"), submit(c, home, "good.job")
    # Written by hand, by an old version or a classic tool:
    c.store.write(bad, attr, value)
    c.unconditional.discard(bad)
    c.tick()
    assert c.store.state(bad) == states.FAILED
    assert "unusable" in c.store.read(bad, "job.reason")
    assert c.store.state(good) == states.RUNNING
    # gqstat -f and --json show it without a traceback.
    view = jobs.Job(bad)
    assert 'job.reason="unusable' in views.detailed(view, extended=True)
    json.loads(views.json_text([view]))


def test_scheduling_error_of_one_job_fails_it_and_the_controller_carries_on(make_controller, home, monkeypatch):
    c = make_controller(scheduler="nobatch")
    bad, good = submit(c, home, "bad.job"), submit(c, home, "good.job")
    c.store.write(bad, "job.startAfter", "1")
    c.unconditional.discard(bad)
    real = conditions.blocked

    def broken(store, job_id, now):
        if job_id == bad:
            raise OverflowError("timestamp out of range for platform time_t")
        return real(store, job_id, now)

    monkeypatch.setattr(conditions, "blocked", broken)
    c.tick()
    assert c.store.state(bad) == states.FAILED
    assert "OverflowError" in c.store.read(bad, "job.reason") or "time_t" in c.store.read(bad, "job.reason")
    assert c.store.state(good) == states.RUNNING


def test_a_failing_scheduling_pass_does_not_end_the_controller(make_controller, home, monkeypatch):
    c = make_controller()
    submit(c, home)

    def broken(state=None):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(c.store, "ids", broken)
    c.tick()  # must not raise
    assert c.need_schedule  # tried again at the next pass


@pytest.mark.parametrize("attr, value", [
    ("job.startAfter", "99999999999999999999"),
    ("job.submitted", "99999999999999999999"),
    ("job.start", "99999999999999999999"),
    ("job.stop", "99999999999999999999"),
    ("job.events", "99999999999999999999 X y\n"),
    ("job.exit", "99999999999999999999"),
    ("job.restarts", "99999999999999999999"),
    ("job.type", "../../etc"),
])
def test_gqstat_shows_unusable_stored_values_without_traceback(make_controller, home, attr, value):
    c = make_controller()
    a = submit(c, home)
    c.store.write(a, attr, value)
    view = jobs.Job(a)
    views.table([view])
    views.detailed(view)
    views.detailed(view, extended=True)
    record = json.loads(views.json_text([view]))[0]
    if attr == "job.startAfter":
        assert record["start_after_iso"] is None


# -- ids --------------------------------------------------------------------------------

def test_no_id_wider_than_the_tools_accept_is_handed_out(make_controller, home, capsys):
    c = make_controller()
    with open(paths.next_job_id_file(), "w") as f:
        f.write("%d\n" % jobstore.MAX_ID)
    last = submit(c, home)
    assert jobstore.canonical_id(last) == last and len(last) == jobstore.MAX_ID_DIGITS
    assert jobs.find(last) is not None
    _, answers = ask(c, P.qsub(script(home, "one.too.many")))
    assert answers == [P.QSUB_FAILED]
    assert "job ids exhausted" in capsys.readouterr().out  # the controller's log
    assert jobstore.JobStore().ids() == [last]


# -- memory per ended job ----------------------------------------------------------------

def test_controller_memory_per_ended_job_is_released(make_controller, home):
    c = make_controller(scheduler="nobatch")
    # The periodic timers (liveness, the sputnik watch) and nothing per job.
    periodic = len([t for t in c.timers if t[2] is not None])
    inboxes = len(c.inboxes)  # its box and the sputniks' sockets: none per job or ask
    for round_ in range(3):
        ids = [submit(c, home, "j%d.%d" % (round_, i)) for i in range(20)]
        c.tick()
        for job_id in ids:
            c.job_ended(job_id, 0)
        c.tick()
        assert (len(c.unconditional), len(c.holds), len(c.submissions)) == (0, 0, 0)
        assert len(c._pending_asks) == 0 and len(c.inboxes) == inboxes == 2
        assert len([t for t in c.timers if t[2] is not None]) == periodic


# -- shown to a user ---------------------------------------------------------------------

def test_gqstat_escapes_control_characters_in_names(make_controller, home):
    c = make_controller()
    a = submit(c, home)
    c.store.write(a, "job.name", "evil\x1b[2J\nname")
    c.store.write(a, "job.execHost", "host\rx")
    os.rename(c.store.job_path(a), c.store.job_path(a) + "\x1b]0;t\x07")
    os.unlink(paths.job_file(a, a))
    os.symlink(paths.job_file(a, "jobtmp/work.job\x1b]0;t\x07"), paths.job_file(a, a))
    view = jobs.Job(a)
    out = views.table([view]) + views.detailed(view)
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert "\\x1b]0;t\\x07" in views.row(view)
    assert 'job.name="evil\\x1b[2J\\nname"' in views.detailed(view)
    assert 'job.execHost="host\\rx"' in views.detailed(view)
    assert len(views.table([view]).splitlines()) == 3


def test_newline_in_trigger_arguments_is_one_event():
    line = event_line(1700000000, "STAGE", ["a\nb", "c\r\nd"])
    assert "\n" not in line and "\r" not in line
    assert line == "1700000000 STAGE a\\nb c\\r\\nd"


# -- digits that int() refuses ---------------------------------------------------------

SUPERSCRIPT_TWO = "\u00b2"  # '²': str.isdigit() says yes, int() says no


@pytest.mark.parametrize("attr, value", [
    ("job.restarts", SUPERSCRIPT_TWO),
    ("job.restarting", "%s 1" % SUPERSCRIPT_TWO),
    ("job.exit", SUPERSCRIPT_TWO),
    ("job.pid", SUPERSCRIPT_TWO),
])
def test_a_superscript_digit_in_a_job_file_ends_only_that_job(make_controller, home, attr, value):
    """Found by a review: a job that wrote '²' into its job.restarts killed
    its sputnik (ValueError), then the controller as it accounted for the
    lost sputnik, and the controller again at every start."""
    c = make_controller(scheduler="nobatch")
    a = submit(c, home, "a.job")
    c.tick()
    c.store.write(a, attr, value)
    c.lost.add(a)  # its sputnik is gone
    c.tick()
    assert c.store.state(a) in (states.RUNNING, states.FINISHED, states.FAILED)
    c.job_ended(a, 0)
    assert c.store.state(a) == states.FINISHED
    view = jobs.Job(a)
    json.loads(views.json_text([view]))  # gqstat --json
    views.detailed(view, extended=True)  # gqstat -f -x


def test_a_job_view_takes_superscripts_for_no_number(make_controller, home):
    c = make_controller()
    a = submit(c, home, "a.job")
    for attr in ("job.exit", "job.start", "job.stop"):
        c.store.write(a, attr, SUPERSCRIPT_TWO)
    view = jobs.Job(a)
    assert view.exit_value() is None
    json.loads(views.json_text([view]))


def test_a_superscript_in_the_id_counter_is_repaired(make_controller, home):
    """Found by a review: every QSUB failed ("internal error") and gqsub
    printed a traceback for good."""
    c = make_controller()
    a = submit(c, home, "a.job")
    with open(paths.next_job_id_file(), "w") as f:
        f.write(SUPERSCRIPT_TWO + "\n")
    assert jobs.next_id() == 0
    b = submit(c, home, "b.job")
    assert int(b) == int(a) + 1


def test_a_lost_sputnik_whose_job_files_break_the_accounting_leaves_the_controller_running(
        make_controller, home, monkeypatch, capsys):
    c = make_controller(scheduler="nobatch")
    a = submit(c, home, "a.job")
    c.tick()
    calls = []

    def broken(job_id):
        calls.append(job_id)
        raise ValueError("absurd")

    monkeypatch.setattr(c, "supervisor_lost", broken)
    c.lost.add(a)
    c.tick()
    assert calls == [a] and not c.lost
    assert "cannot account for its lost sputnik" in capsys.readouterr().out

    def full(job_id):
        calls.append(job_id)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(c, "supervisor_lost", full)
    c.lost.add(a)
    c.tick()
    assert c.lost == {a}  # tried again at the next tick
    c.tick()
    assert calls == [a, a, a]
    assert capsys.readouterr().out.count("not accounted for yet") == 1

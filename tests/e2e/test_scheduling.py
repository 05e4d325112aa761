"""Scheduling beyond one-at-a-time (FEATURES.md §5 ``-a``/``-W``, §6).

Covers: the ``slots`` setting of fifo (two waves of two), nobatch (all at
once) and plain fifo (one at a time); dependencies given by ``#GSAT -W`` and
``gqsub -W`` (afterok, afterany, afternotok, chains, unknown ids, the
``job.reason`` shown while waiting and after a dependency can never be met);
deferred start with ``-a`` (ISO 8601 and PBS digits, past times, malformed
times).

Order and overlap are judged from timestamps the jobs write themselves
(sub-second, taken inside the job) and cross-checked against the store's
whole-second ``job.start``/``job.stop``; nothing is judged by wall time.
"""

import os
import time

import pytest

ENDED = ("finished", "failed")


def timed_job(gsat, name, sleep=0, exit_value=0, directives=""):
    """A job that records when it really began and ended (``date +%s.%N``)."""
    marks = os.path.join(str(gsat.tmp), "marks")
    os.makedirs(marks, exist_ok=True)
    body = (
        directives
        + 'date +%%s.%%N > "%s/%s.begin"\n' % (marks, name)
        + ("sleep %s\n" % sleep if sleep else "")
        + 'date +%%s.%%N > "%s/%s.end"\n' % (marks, name)
        + "exit %d\n" % exit_value
    )
    return gsat.job(name, body)


def marks(gsat, name):
    base = os.path.join(str(gsat.tmp), "marks", name)
    with open(base + ".begin") as f:
        begin = float(f.read())
    with open(base + ".end") as f:
        end = float(f.read())
    return begin, end


def has_begun(gsat, name):
    return os.path.exists(os.path.join(str(gsat.tmp), "marks", name + ".begin"))


def one_line(gsat, job_id, attr):
    """The single epoch in ``job.start``/``job.stop`` (a job runs once)."""
    lines = gsat.attr(job_id, attr).split()
    assert len(lines) == 1, "%s %s: %r" % (job_id, attr, lines)
    return int(lines[0])


def running_now(gsat):
    d = os.path.join(gsat.g, "gschedule", "running")
    try:
        return sorted(n for n in os.listdir(d) if n.endswith(".d"))
    except OSError:
        return []


def wait_all_ended(gsat, ids, timeout=60):
    """Wait until every job ended; returns the largest number of jobs the
    store showed as running at any look meanwhile."""
    most = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        most = max(most, len(running_now(gsat)))
        if all(gsat.state(j) in ENDED for j in ids):
            return most
        time.sleep(0.02)
    raise AssertionError("not all ended: %s" % {j: gsat.state(j) for j in ids})


def max_concurrency(intervals):
    """Most intervals open at one instant (an end before an equal begin)."""
    points = sorted([(b, 1) for b, _ in intervals] + [(e, -1) for _, e in intervals],
                    key=lambda p: (p[0], p[1]))
    most = now = 0
    for _, step in points:
        now += step
        most = max(most, now)
    return most


# -- slots, nobatch, fifo ------------------------------------------------------------

def test_two_slots_run_four_jobs_in_two_waves(gsat):
    gsat.start(slots=2)
    names = ["w%d.job" % i for i in range(4)]
    ids = gsat.qsub(*[timed_job(gsat, n, sleep=1) for n in names])
    assert ids == ["00000", "00001", "00002", "00003"]
    most_seen = wait_all_ended(gsat, ids)
    assert [gsat.state(j) for j in ids] == ["finished"] * 4
    t = [marks(gsat, n) for n in names]
    # Jobs 0 and 1 overlap.
    assert t[0][0] < t[1][1] and t[1][0] < t[0][1], t
    # Jobs 2 and 3 each waited for a slot to be freed by an earlier job.
    for k in (2, 3):
        assert t[k][0] >= min(t[0][1], t[1][1]), t
    assert t[3][0] >= sorted([t[0][1], t[1][1], t[2][1]])[1], t
    assert max_concurrency(t) == 2, t
    assert most_seen <= 2
    # The store agrees (whole seconds).
    start = [one_line(gsat, j, "job.start") for j in ids]
    stop = [one_line(gsat, j, "job.stop") for j in ids]
    assert start[0] <= stop[1] and start[1] <= stop[0]
    assert start[2] >= min(stop[0], stop[1])
    assert start[3] >= min(stop[0], stop[1])


def test_nobatch_runs_all_at_once(gsat):
    gsat.start(scheduler="nobatch")
    names = ["n%d.job" % i for i in range(4)]
    ids = gsat.qsub(*[timed_job(gsat, n, sleep=1) for n in names])
    wait_all_ended(gsat, ids)
    t = [marks(gsat, n) for n in names]
    assert max(b for b, _ in t) < min(e for _, e in t), t
    assert max_concurrency(t) == 4


def test_fifo_default_runs_one_at_a_time(gsat):
    gsat.start()
    names = ["f%d.job" % i for i in range(3)]
    ids = gsat.qsub(*[timed_job(gsat, n, sleep=0.3) for n in names])
    most_seen = wait_all_ended(gsat, ids)
    t = [marks(gsat, n) for n in names]
    for k in (1, 2):
        assert t[k][0] >= t[k - 1][1], t
    assert max_concurrency(t) == 1
    assert most_seen <= 1


# -- dependencies -----------------------------------------------------------------------

def test_afterok_on_failing_job_fails_with_reason(gsat):
    # Two slots: the dependent job would start at once if it were not held back.
    gsat.start(slots=2)
    parent = gsat.qsub(timed_job(gsat, "parent.job", sleep=1.5, exit_value=3))
    child = gsat.qsub(timed_job(gsat, "child.job", directives="#GSAT -W depend=afterok:%s\n" % parent))
    gsat.wait_for(lambda: gsat.attr(child, "job.reason") != "", what="job.reason of the waiting job")
    assert gsat.state(parent) == "running"
    assert gsat.state(child) == "queued"
    waiting = "waiting for afterok:%s (running)" % parent
    assert gsat.attr(child, "job.reason") == waiting
    shown = gsat.run("gqstat", "-f", child, "-x", check=True).stdout
    assert 'job.reason="%s"\n' % waiting in shown
    assert 'job.depend="afterok:%s"\n' % parent in shown
    assert 'job.state="queued"\n' in shown

    assert gsat.wait_state(child, ENDED) == "failed"
    assert gsat.state(parent) == "failed"
    reason = "dependency afterok:%s failed" % parent
    assert gsat.attr(child, "job.reason") == reason
    shown = gsat.run("gqstat", "-f", child, "-x", check=True).stdout
    assert 'job.reason="%s"\n' % reason in shown
    assert 'job.state="failed"\n' in shown
    # It never ran.
    assert not has_begun(gsat, "child.job")
    assert gsat.attr(child, "job.start") == ""


def test_afterany_runs_after_success_and_after_failure(gsat):
    gsat.start(scheduler="nobatch")
    good = gsat.qsub(timed_job(gsat, "good.job", sleep=1, exit_value=0))
    bad = gsat.qsub(timed_job(gsat, "bad.job", sleep=1, exit_value=2))
    p1 = gsat.run("gqsub", "-W", "depend=afterany:%s" % good, timed_job(gsat, "after-good.job"), check=True)
    p2 = gsat.run("gqsub", "-W", "depend=afterany:%s" % bad, timed_job(gsat, "after-bad.job"), check=True)
    after_good, after_bad = p1.stdout.strip(), p2.stdout.strip()
    wait_all_ended(gsat, [good, bad, after_good, after_bad])
    assert gsat.state(bad) == "failed"
    assert gsat.state(after_good) == "finished"
    assert gsat.state(after_bad) == "finished"
    assert marks(gsat, "after-good.job")[0] >= marks(gsat, "good.job")[1]
    assert marks(gsat, "after-bad.job")[0] >= marks(gsat, "bad.job")[1]
    assert one_line(gsat, after_bad, "job.start") >= one_line(gsat, bad, "job.stop")
    assert gsat.attr(after_good, "job.depend") == "afterany:%s" % good


def test_afternotok_runs_only_on_failure(gsat):
    gsat.start(scheduler="nobatch")
    good = gsat.qsub(timed_job(gsat, "good.job", sleep=1, exit_value=0))
    bad = gsat.qsub(timed_job(gsat, "bad.job", sleep=1, exit_value=4))
    on_good = gsat.run("gqsub", "-W", "depend=afternotok:%s" % good,
                       timed_job(gsat, "on-good.job"), check=True).stdout.strip()
    on_bad = gsat.run("gqsub", "-W", "depend=afternotok:%s" % bad,
                      timed_job(gsat, "on-bad.job"), check=True).stdout.strip()
    wait_all_ended(gsat, [good, bad, on_good, on_bad])
    assert gsat.state(on_bad) == "finished"
    assert marks(gsat, "on-bad.job")[0] >= marks(gsat, "bad.job")[1]
    assert gsat.state(on_good) == "failed"
    reason = "dependency afternotok:%s finished successfully" % good
    assert gsat.attr(on_good, "job.reason") == reason
    assert 'job.reason="%s"\n' % reason in gsat.run("gqstat", "-f", on_good, "-x", check=True).stdout
    assert not has_begun(gsat, "on-good.job")


def test_chain_of_three_runs_in_order(gsat):
    # nobatch: only the dependencies can impose the order.
    gsat.start(scheduler="nobatch")
    a = gsat.qsub(timed_job(gsat, "a.job", sleep=0.5))
    b = gsat.run("gqsub", "-W", "depend=afterok:%s" % a, timed_job(gsat, "b.job", sleep=0.5),
                 check=True).stdout.strip()
    c = gsat.qsub(timed_job(gsat, "c.job", directives="#GSAT -W depend=afterok:%s\n" % b))
    wait_all_ended(gsat, [a, b, c])
    assert [gsat.state(j) for j in (a, b, c)] == ["finished"] * 3
    ta, tb, tc = marks(gsat, "a.job"), marks(gsat, "b.job"), marks(gsat, "c.job")
    assert ta[1] <= tb[0] and tb[1] <= tc[0], (ta, tb, tc)
    assert one_line(gsat, a, "job.stop") <= one_line(gsat, b, "job.start")
    assert one_line(gsat, b, "job.stop") <= one_line(gsat, c, "job.start")
    # A satisfied dependency leaves no reason behind.
    assert gsat.attr(c, "job.reason") == ""


def _nothing_queued(gsat):
    jobs = os.path.join(gsat.g, "gschedule", "jobs")
    assert [n for n in os.listdir(jobs) if not n.startswith(".removed")] == []
    assert gsat.run("gqstat", check=True).stdout.count("\n") == 2  # header and rule only


def test_dependency_on_unknown_job_is_refused(gsat):
    gsat.start()
    job = timed_job(gsat, "orphan.job")
    p = gsat.run("gqsub", "-W", "depend=afterok:99999", job)
    assert p.returncode == 1
    assert p.stdout == ""
    assert "dependency on unknown job 99999" in p.stderr
    assert "nothing submitted" in p.stderr
    d = timed_job(gsat, "orphan2.job", directives="#GSAT -W depend=afterany:00042\n")
    p = gsat.run("gqsub", d)
    assert p.returncode == 1
    assert "dependency on unknown job 00042" in p.stderr
    p = gsat.run("gqsub", "-W", "depend=afterwhen:1", job)
    assert p.returncode == 1
    assert "afterwhen" in p.stderr
    _nothing_queued(gsat)


# -- deferred start --------------------------------------------------------------------------

def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


@pytest.mark.slow
def test_deferred_job_starts_at_its_time_without_other_activity(gsat):
    gsat.start()
    # Whole seconds: what the ISO form can express and what job.start records.
    target = int(time.time()) + 4
    job = timed_job(gsat, "later.job")
    p = gsat.run("gqsub", "-a", _iso(target), job, check=True)
    job_id = p.stdout.strip()
    assert gsat.attr(job_id, "job.startAfter") == str(target)
    # From here on nothing talks to the controller: only files are read.
    gsat.wait_for(lambda: gsat.attr(job_id, "job.reason") != "" or gsat.state(job_id) != "queued",
                  what="deferral reason")
    # Read before the clock: if the clock is still short of the target, so
    # it was when these were read.
    state, begun = gsat.state(job_id), has_begun(gsat, "later.job")
    reason = gsat.attr(job_id, "job.reason")
    if time.time() < target:
        assert (state, begun) == ("queued", False)
        assert reason == "deferred until %s" % time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(target))
    assert gsat.wait_state(job_id, ENDED, timeout=60) == "finished"
    assert one_line(gsat, job_id, "job.start") >= target
    assert marks(gsat, "later.job")[0] >= target
    assert gsat.attr(job_id, "job.reason") == ""
    shown = gsat.run("gqstat", "-f", job_id, "-x", check=True).stdout
    assert 'job.startAfterTime="%s"\n' % time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(target)) in shown


@pytest.mark.slow
def test_deferred_pbs_directive_and_past_time(gsat):
    gsat.start(scheduler="nobatch")
    target = int(time.time()) + 4
    pbs = time.strftime("%Y%m%d%H%M.%S", time.localtime(target))
    later = timed_job(gsat, "pbs.job", directives="#GSAT -a %s\n" % pbs)
    now = timed_job(gsat, "past.job", directives="#GSAT -a %s\n" % _iso(int(time.time()) - 3600))
    later_id, now_id = gsat.qsub(later, now)
    assert gsat.attr(later_id, "job.startAfter") == str(target)
    # The past time starts at once: it is done before the deferred one begins.
    assert gsat.wait_state(now_id, ENDED) == "finished"
    assert gsat.wait_state(later_id, ENDED, timeout=60) == "finished"
    assert marks(gsat, "pbs.job")[0] >= target
    assert one_line(gsat, later_id, "job.start") >= target
    assert marks(gsat, "past.job")[1] <= marks(gsat, "pbs.job")[0]


def test_unparsable_time_is_refused(gsat):
    gsat.start()
    job = timed_job(gsat, "when.job")
    p = gsat.run("gqsub", "-a", "notadate", job)
    assert p.returncode == 1
    assert p.stdout == ""
    assert "notadate" in p.stderr and "nothing submitted" in p.stderr
    # -N makes it a script written for the new options (docs/directives.md).
    d = timed_job(gsat, "when2.job", directives="#GSAT -N when2\n#GSAT -a 2026-13-45T99:00\n")
    p = gsat.run("gqsub", d)
    assert p.returncode == 1
    assert "2026-13-45T99:00" in p.stderr
    p = gsat.run("gqsub", "-a", "2360", job)
    assert p.returncode == 1
    _nothing_queued(gsat)

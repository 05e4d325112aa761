"""Machine-readable output and housekeeping (FEATURES.md §11).

``gqclean`` removes exactly the ended jobs asked for (``--state``,
``--older-than`` counted from ``job.stop``, ``-n`` dry run) and never a
queued, held or running one, through a running controller and without one.
``gqstat --json`` gives valid JSON with the same keys for every job, times as
epoch integers that match ``job.start``/``job.stop``/``job.submitted`` and as
ISO 8601 strings for the same instants; ``-s`` filters and ``-f ID`` selects.
"""

import datetime
import json
import os
import re
import time

ENDED = ("finished", "failed")


def quick(gsat, name, exit_value=0, gated=False, extra=""):
    body = extra
    if gated:
        body += 'while [ ! -e "%s" ]; do sleep 0.05; done\n' % gate(gsat, name)
    body += "exit %d\n" % exit_value
    return gsat.job(name, body)


def gate(gsat, name):
    return os.path.join(str(gsat.tmp), name + ".gate")


def open_gate(gsat, name):
    with open(gate(gsat, name), "w"):
        pass


def existing(gsat):
    d = os.path.join(gsat.g, "gschedule", "jobs")
    return sorted(n[:-2] for n in os.listdir(d) if n.endswith(".d") and n[:-2].isdigit())


def listed(gsat):
    """Ids in gqstat's table (what a user sees)."""
    out = gsat.run("gqstat", check=True).stdout.splitlines()[2:]
    return sorted(line.split()[1] for line in out)


def clean(gsat, *args):
    return gsat.run("gqclean", *args)


def age_job(gsat, job_id, seconds):
    """Make an ended job look ``seconds`` old: its end time is what
    ``--older-than`` counts from, and no test can wait hours."""
    with open(os.path.join(gsat.job_dir(job_id), "job.stop"), "w") as f:
        f.write("%d\n" % (int(time.time()) - seconds))


# -- gqclean ----------------------------------------------------------------------------

def test_gqclean_through_running_controller(gsat):
    gsat.start()
    ended = gsat.qsub(quick(gsat, "f1.job"), quick(gsat, "x1.job", 2),
                      quick(gsat, "f2.job"), quick(gsat, "x2.job", 5))
    for j in ended:
        gsat.wait_state(j, ENDED)
    f1, x1, f2, x2 = ended
    # fifo, one slot: r runs until its gate opens, q waits, h is held.
    r, q, h = gsat.qsub(quick(gsat, "r.job", gated=True), quick(gsat, "q.job"), quick(gsat, "h.job"))
    gsat.wait_state(r, "running")
    gsat.run("gqhold", h, check=True)
    assert (gsat.state(q), gsat.state(h)) == ("queued", "held")
    everything = sorted(ended + [r, q, h])

    p = clean(gsat, "-n")
    assert (p.returncode, p.stdout) == (0, "".join(j + "\n" for j in sorted(ended)))
    p = clean(gsat, "--dry-run", "--state", "failed")
    assert (p.returncode, p.stdout) == (0, "%s\n%s\n" % (x1, x2))
    p = clean(gsat, "-n", "--state", "finished", "--older-than", "0")
    assert p.stdout == "%s\n%s\n" % (f1, f2)
    assert existing(gsat) == everything

    p = clean(gsat, "--older-than", "1h")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    assert existing(gsat) == everything

    p = clean(gsat, "--state", "failed")
    assert p.returncode == 0, p.stderr
    assert existing(gsat) == sorted([f1, f2, r, q, h])
    # The controller, the store's single writer, did the removal.
    with open(os.path.join(gsat.g, "var", "log", "gsatlc.log")) as f:
        log = f.read()
    assert "job %s deleted" % x1 in log and "job %s deleted" % x2 in log
    assert listed(gsat) == sorted([f1, f2, r, q, h])

    p = clean(gsat, "--older-than", "0")
    assert p.returncode == 0, p.stderr
    assert existing(gsat) == [r, q, h]
    assert [gsat.state(j) for j in (r, q, h)] == ["running", "queued", "held"]

    # Malformed requests remove nothing.
    assert clean(gsat, "--older-than", "soon").returncode == 64
    assert clean(gsat, "--older-than", "-5").returncode == 64
    assert clean(gsat, "--state", "running").returncode == 64
    assert clean(gsat, "--state", "queued").returncode == 64
    assert clean(gsat, "--bogus").returncode == 64
    assert existing(gsat) == [r, q, h]

    # The controller carries on: the remaining jobs end, ids are not reused.
    open_gate(gsat, "r.job")
    gsat.run("gqrls", h, check=True)
    for j in (r, q, h):
        assert gsat.wait_state(j, ENDED) == "finished"
    assert gsat.qsub(quick(gsat, "new.job")) == "%05d" % (int(h) + 1)


def test_gqclean_without_controller_by_age(gsat):
    gsat.start(scheduler="nobatch")
    old_ok, fresh_ok, old_bad, fresh_bad = gsat.qsub(
        quick(gsat, "old-ok.job"), quick(gsat, "fresh-ok.job"),
        quick(gsat, "old-bad.job", 1), quick(gsat, "fresh-bad.job", 1))
    running = gsat.qsub(quick(gsat, "running.job", gated=True))
    for j in (old_ok, fresh_ok, old_bad, fresh_bad):
        gsat.wait_state(j, ENDED)
    gsat.wait_state(running, "running")
    assert gsat.stop().returncode == 0
    assert gsat.controller_pid() is None
    age_job(gsat, old_ok, 7200)
    age_job(gsat, old_bad, 7200)

    p = clean(gsat, "-n", "--older-than", "1h")
    assert p.stdout == "%s\n%s\n" % (old_ok, old_bad)
    p = clean(gsat, "-n", "--older-than", "3h")
    assert (p.returncode, p.stdout) == (0, "")
    assert len(existing(gsat)) == 5

    p = clean(gsat, "--older-than", "90m", "--state", "finished")
    assert p.returncode == 0, p.stderr
    assert existing(gsat) == sorted([fresh_ok, old_bad, fresh_bad, running])
    p = clean(gsat, "--older-than", "3600")
    assert p.returncode == 0, p.stderr
    assert existing(gsat) == sorted([fresh_ok, fresh_bad, running])
    p = clean(gsat, "--older-than", "1d")
    assert existing(gsat) == sorted([fresh_ok, fresh_bad, running])

    p = clean(gsat)
    assert p.returncode == 0, p.stderr
    assert existing(gsat) == [running]
    assert listed(gsat) == [running]
    # No state link is left pointing at a removed job.
    for state in ("queued", "running", "held", "finished", "failed"):
        links = os.listdir(os.path.join(gsat.g, "gschedule", state))
        assert links == ([running + ".d"] if state == "running" else []), (state, links)

    # The running job was untouched and the next controller accounts for it.
    gsat.start(scheduler="nobatch")
    open_gate(gsat, "running.job")
    assert gsat.wait_state(running, ENDED) == "finished"
    assert len(gsat.attr(running, "job.start").split()) == 1


# -- gqstat --json -----------------------------------------------------------------------

KEYS = {
    "id", "name", "state", "type", "exec_host", "exit", "pid", "reason", "depend",
    "starts_epoch", "starts_iso", "stops_epoch", "stops_iso",
    "submitted_epoch", "submitted_iso", "start_after_epoch", "start_after_iso", "events",
}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:?\d\d|Z)$")


def iso_epoch(text):
    assert ISO.match(text), text
    if text.endswith("Z"):
        text = text[:-1] + "+0000"
    return int(datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp())


def epochs(gsat, job_id, attr):
    return [int(v) for v in gsat.attr(job_id, attr).split()]


def test_gqstat_json(gsat):
    gsat.start(scheduler="nobatch")
    ok = gsat.qsub(quick(gsat, "ok.job", extra="#GSAT -N okname\ntrigger --wait PROGRESS 50 percent\n"))
    bad = gsat.qsub(quick(gsat, "bad.job", 3))
    dep = gsat.run("gqsub", "-W", "depend=afterany:%s" % ok, quick(gsat, "dep.job"),
                   check=True).stdout.strip()
    target = int(time.time()) + 3600
    later = gsat.run("gqsub", "-a", "@%d" % target, quick(gsat, "later.job"), check=True).stdout.strip()
    for j in (ok, bad, dep):
        gsat.wait_state(j, ENDED)
    gsat.wait_for(lambda: gsat.attr(later, "job.reason") != "", what="deferral reason")
    host = gsat.host()

    p = gsat.run("gqstat", "--json", check=True)
    data = json.loads(p.stdout)
    assert isinstance(data, list)
    assert [j["id"] for j in data] == [ok, bad, dep, later]
    keys = set(data[0])
    assert KEYS <= keys, KEYS - keys
    for j in data:
        assert set(j) == keys, j["id"]
    by_id = {j["id"]: j for j in data}

    for job_id in (ok, bad, dep):
        j = by_id[job_id]
        assert j["state"] == gsat.state(job_id)
        assert j["type"] == "default"
        assert j["exec_host"] == host
        assert j["exit"] == int(gsat.attr(job_id, "job.exit"))
        assert j["pid"] == int(gsat.attr(job_id, "job.pid"))
        assert j["starts_epoch"] == epochs(gsat, job_id, "job.start")
        assert j["stops_epoch"] == epochs(gsat, job_id, "job.stop")
        assert len(j["starts_epoch"]) == 1 and len(j["stops_epoch"]) == 1
        assert [iso_epoch(t) for t in j["starts_iso"]] == j["starts_epoch"]
        assert [iso_epoch(t) for t in j["stops_iso"]] == j["stops_epoch"]
        assert j["submitted_epoch"] == int(gsat.attr(job_id, "job.submitted"))
        assert iso_epoch(j["submitted_iso"]) == j["submitted_epoch"]
        assert j["submitted_epoch"] <= j["starts_epoch"][0] <= j["stops_epoch"][0]
        assert j["reason"] is None
        assert (j["start_after_epoch"], j["start_after_iso"]) == (None, None)

    assert (by_id[ok]["name"], by_id[ok]["state"], by_id[ok]["exit"]) == ("okname", "finished", 0)
    assert (by_id[bad]["name"], by_id[bad]["state"], by_id[bad]["exit"]) == ("bad.job", "failed", 3)
    assert by_id[dep]["depend"] == "afterany:%s" % ok
    assert by_id[ok]["depend"] is None
    events = by_id[ok]["events"]
    assert [(e["name"], e["args"]) for e in events] == [("PROGRESS", "50 percent")]
    assert iso_epoch(events[0]["iso"]) == events[0]["epoch"]
    assert by_id[ok]["starts_epoch"][0] <= events[0]["epoch"] <= by_id[ok]["stops_epoch"][0]
    assert by_id[bad]["events"] == []

    w = by_id[later]
    assert w["state"] == "queued"
    assert (w["exit"], w["exec_host"], w["pid"]) == (None, None, None)
    assert (w["starts_epoch"], w["starts_iso"], w["stops_epoch"], w["stops_iso"]) == ([], [], [], [])
    assert w["start_after_epoch"] == target
    assert iso_epoch(w["start_after_iso"]) == target
    assert w["reason"] == gsat.attr(later, "job.reason")
    assert w["reason"].startswith("deferred until ")

    # Filters.
    assert [j["id"] for j in json.loads(gsat.run("gqstat", "--json", "-s", "failed", check=True).stdout)] == [bad]
    assert [j["id"] for j in json.loads(gsat.run("gqstat", "--json", "-s", "queued", check=True).stdout)] == [later]
    assert json.loads(gsat.run("gqstat", "--json", "-s", "held", check=True).stdout) == []
    assert [j["id"] for j in json.loads(gsat.run("gqstat", "--json", "-s", "finished", check=True).stdout)] == [ok, dep]
    one = json.loads(gsat.run("gqstat", "--json", "-f", bad, check=True).stdout)
    assert one == [by_id[bad]]
    assert json.loads(gsat.run("gqstat", "-f", str(int(dep)), "--json", check=True).stdout) == [by_id[dep]]
    assert json.loads(gsat.run("gqstat", "--json", "-f", ok, "-s", "failed", check=True).stdout) == []
    p = gsat.run("gqstat", "--json", "-f", "99999")
    assert p.returncode == 1 and p.stdout == ""
    assert gsat.run("gqstat", "--json", "-s", "nonsense").returncode == 1

    # The same JSON without a controller (gqstat reads the store).
    gsat.stop()
    assert json.loads(gsat.run("gqstat", "--json", check=True).stdout) == data


def test_gqstat_json_empty_store(gsat):
    gsat.start()
    p = gsat.run("gqstat", "--json", check=True)
    assert json.loads(p.stdout) == []

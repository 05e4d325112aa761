"""gqstat against output captured once from the classic bash gqstat.

A job store is written by hand in the classic layout (PROTOCOL.md §4): jobs
in every state, a queued job without ``job.execHost``, a restarted job with
two lines in ``job.start``/``job.stop``, a host name and a job name longer
than the 24 columns of the table, and a job name with a non-ASCII character.
The classic gqstat (gsatellite 0.2) was run once on exactly this store; its
stdout is kept in ``golden/`` with the store's ``$HOME`` replaced by
``@HOME@``.  Our gqstat must reproduce it byte for byte.

Two classic forms are not compared because they are classic defects: the
``-s STATE`` table prints an empty job name, and ``-t TYPE`` is rejected.
For those the tests check the correct behaviour instead.

A second store is written as our controller writes it (``OURS``: the
attributes only the new tools write, such as ``job.submitted``,
``job.events``, ``job.restarts``, ``job.reason``, and a job in its second
run with the first run's output in ``job.stdout.1``).  The classic gqstat
was run on it too: its ``-f`` blocks have the eight classic lines only, and
ours must print the same (``golden/gqstat_ours_*.txt``).  ``gqstat -f -x``
adds the new attributes; its expected output (``gqstat_ours_f_x.txt``, in
UTC) is our own format, not a classic capture.

To re-capture (only if the store below changes), run this file as a script
with the classic tree's ``bin/`` as argument; see :func:`capture`.
"""

import os
import subprocess
import sys

import pytest

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
PLACEHOLDER = "@HOME@"

LONG_HOST = "frontend-login-node-01.cluster.hlrs.example.de"
SHORT_HOST = "fe1.example.org"
LONG_NAME = "a-very-long-job-name-that-exceeds-the-column.job"
UMLAUT_NAME = "größe.job"

# id, state, name, type, execHost, pid, start lines, stop lines, exit.
# The PIDs are above the largest possible pid_max (2**22), so no process can
# have them: the fixture's teardown signals every job.pid it finds.
JOBS = (
    ("00000", "finished", "succeed.job", "default", SHORT_HOST, "5004101",
     ["1700000000"], ["1700000005"], "0"),
    ("00001", "failed", LONG_NAME, "gtransfer", LONG_HOST, "5004202",
     ["1700000100", "1700000200"], ["1700000150", "1700000260"], "3"),
    ("00002", "running", "run.job", "default", SHORT_HOST, "5004303",
     ["1700000300"], [], None),
    ("00003", "queued", UMLAUT_NAME, "default", None, None, [], [], None),
    ("00004", "held", "held.job", "tgftp", LONG_HOST, "5004404",
     ["1700000400"], ["1700000401"], "143"),
    ("00005", "finished", "second.job", "default", SHORT_HOST, "5004505",
     ["1700000500"], ["1700000502"], "0"),
)

CASES = {
    "table": [],
    "f": ["-f"],
    "f_00001": ["-f", "00001"],
    "s_finished_f": ["-s", "finished", "-f"],
}

# As our controller writes them: (id, state, name, type, execHost, pid,
# start lines, stop lines, exit, files only the new tools write).
OURS = (
    ("00000", "finished", "nice", "default", SHORT_HOST, "5004101", ["1700000000"], ["1700000005"], "0",
     {"job.submitted": "1699999990", "job.submitBox": "/nowhere/1.1.inbox", "job.mailPoints": "e",
      "job.stdoutPath": "/tmp/nice.out", "job.events": "1700000001 EV x\n1700000002 EV y"}),
    ("00001", "running", "transfer", "gtransfer", LONG_HOST, "5004202",
     ["1700000100", "1700000200"], ["1700000150"], "75",
     {"job.submitted": "1700000090", "job.restarts": "1", "job.stdout.1": "first run",
      "job.stderr.1": "", "job.events": ""}),
    ("00002", "queued", "waiting.job", "default", None, None, [], [], None,
     {"job.submitted": "1700000300", "job.depend": "afterok:00001", "job.startAfter": "1700086400",
      "job.reason": "waiting for afterok:00001 (running)"}),
    ("00003", "failed", "broken.job", "default", SHORT_HOST, "5004404", ["1700000400"], ["1700000401"], "3",
     {"job.submitted": "1700000399", "job.outputError": "cannot copy job.stdout to /x/y: No such file"}),
    ("00004", "held", "held.job", "tgftp", LONG_HOST, "5004505", ["1700000500"], ["1700000501"], "143",
     {"job.submitted": "1700000499", "job.mailPoints": "a", "job.mailTo": "me@example.org"}),
)

OURS_CASES = {
    "ours_table": [],
    "ours_f": ["-f"],
    "ours_f_00001": ["-f", "00001"],
    "ours_s_running_f": ["-s", "running", "-f"],
}


def _write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def build_store(home, jobs_table=JOBS):
    """Write the job store of ``jobs_table`` (:data:`JOBS`, the classic one,
    or :data:`OURS`) under ``home`` by hand."""
    g = os.path.join(home, ".gsatellite", "gschedule")
    jobs = os.path.join(g, "jobs")
    for d in ("jobs", "queued", "running", "finished", "failed", "held"):
        os.makedirs(os.path.join(g, d), mode=0o700)
    _write(os.path.join(g, "nextJobId"), "%d\n" % len(jobs_table))
    for job_id, state, name, job_type, host, pid, starts, stops, exit_value, *new in jobs_table:
        jdir = os.path.join(jobs, job_id + ".d")
        os.makedirs(os.path.join(jdir, "jobtmp"), mode=0o700)
        copy = os.path.join(jdir, "jobtmp", name)
        _write(copy, "#!/bin/bash\ntrue\n")
        os.chmod(copy, 0o700)
        os.symlink(copy, os.path.join(jdir, job_id))
        files = {"jobId": job_id, "job.id": job_id, "job.name": name,
                 "job.type": job_type, "job.state": state}
        if host:
            files["job.execHost"] = host
        if pid:
            files["job.pid"] = pid
        if starts:
            files["job.start"] = "\n".join(starts)
        if stops:
            files["job.stop"] = "\n".join(stops)
        if exit_value is not None:
            files["job.exit"] = exit_value
        files.update(new[0] if new else {})
        for attr, value in files.items():
            _write(os.path.join(jdir, attr), value + "\n")
        os.symlink(jdir, os.path.join(g, state, job_id + ".d"))
    return g


def expected(case, home):
    with open(os.path.join(GOLDEN, "gqstat_%s.txt" % case), encoding="utf-8") as f:
        return f.read().replace(PLACEHOLDER, home)


@pytest.fixture
def store(gsat):
    build_store(gsat.home)
    return gsat


@pytest.mark.parametrize("case", sorted(CASES))
def test_gqstat_matches_classic_output(store, case):
    p = store.run("gqstat", *CASES[case])
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert p.stdout == expected(case, store.home)


@pytest.fixture
def ours(gsat):
    build_store(gsat.home, OURS)
    return gsat


@pytest.mark.parametrize("case", sorted(OURS_CASES))
def test_gqstat_of_our_store_matches_classic_output(ours, case):
    p = ours.run("gqstat", *OURS_CASES[case])
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert p.stdout == expected(case, ours.home)


def test_gqstat_f_x_of_our_store(ours):
    # Our extended view (not a classic capture): the classic lines, then the
    # new ones; the running job shows its second run's start and no stop.
    ours.env["TZ"] = "UTC"
    p = ours.run("gqstat", "-f", "-x")
    assert p.returncode == 0, p.stderr
    assert p.stdout == expected("ours_f_x", ours.home)
    blocks = p.stdout.split("\n\n")[:-1]
    classic = expected("ours_f", ours.home).split("\n\n")[:-1]
    assert len(blocks) == len(classic) == len(OURS)
    assert all(b.startswith(c + "\n") for b, c in zip(blocks, classic))
    assert ours.run("gqstat", "-x").returncode == 64


def test_gqstat_f_accepts_short_id(store):
    p = store.run("gqstat", "-f", "1")
    assert p.returncode == 0, p.stderr
    assert p.stdout == expected("f_00001", store.home)


def _rows(stdout):
    lines = stdout.splitlines()
    assert lines[:2] == [
        "   job.state job.id             job.execHost                 job.name",
        "------------ ------ ------------------------ ------------------------",
    ]
    return [(line[:12].rstrip(), line[13:19].rstrip(), line[20:].rstrip()) for line in lines[2:]]


def test_state_filter_table_shows_names(store):
    # The classic table printed an empty name here; ours shows the real one.
    p = store.run("gqstat", "-s", "finished")
    assert p.returncode == 0, p.stderr
    rows = _rows(p.stdout)
    assert [r[:2] for r in rows] == [("finished", "00000"), ("finished", "00005")]
    assert rows[0][2].split()[-1] == "succeed.job"
    assert rows[1][2].split()[-1] == "second.job"
    queued = _rows(store.run("gqstat", "-s", "queued").stdout)
    assert len(queued) == 1 and queued[0][1] == "00003"
    assert queued[0][2].strip() == UMLAUT_NAME


def test_type_filter(store):
    p = store.run("gqstat", "-t", "tgftp")
    assert p.returncode == 0, p.stderr
    assert [r[1] for r in _rows(p.stdout)] == ["00004"]
    p = store.run("gqstat", "-t", "default")
    assert [r[1] for r in _rows(p.stdout)] == ["00000", "00002", "00003", "00005"]
    p = store.run("gqstat", "-t", "default", "-s", "finished")
    assert [r[1] for r in _rows(p.stdout)] == ["00000", "00005"]
    p = store.run("gqstat", "-t", "gtransfer", "-f")
    assert p.returncode == 0
    assert p.stdout == expected("f_00001", store.home) + "\n"
    p = store.run("gqstat", "-t", "nosuchtype")
    assert _rows(p.stdout) == []


def test_unknown_state_is_refused(store):
    p = store.run("gqstat", "-s", "bogus")
    assert p.returncode == 1
    assert "Unknown job state -- 'bogus'." in p.stderr
    assert p.stdout == ""


def capture(classic_bin, out_dir=GOLDEN):
    """Run the classic gqstat on fresh hand-written stores; write golden/."""
    for table, cases in ((JOBS, CASES), (OURS, OURS_CASES)):
        _capture(classic_bin, out_dir, table, cases)


def _capture(classic_bin, out_dir, table, cases):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        build_store(home, table)
        env = dict(os.environ, HOME=home)
        for case, argv in cases.items():
            p = subprocess.run([os.path.join(classic_bin, "gqstat")] + argv, env=env,
                               capture_output=True, check=True)
            text = p.stdout.decode("utf-8").replace(home, PLACEHOLDER)
            with open(os.path.join(out_dir, "gqstat_%s.txt" % case), "w", encoding="utf-8") as f:
                f.write(text)


if __name__ == "__main__":
    capture(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else GOLDEN)

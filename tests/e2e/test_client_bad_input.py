"""Bad input to the clients: a clear message, the documented exit code, and
nothing queued or changed in the job store (COMMANDS.md, PROTOCOL.md §7).

Also the controller's repair of a corrupt store: a garbage ``nextJobId``
and a ``job.state`` that disagrees with its state link.
"""

import os
import shutil
import subprocess

import pytest

STATES = ("queued", "running", "held", "finished", "failed")
NOT_RUNNING = "gsatlc is not running. Start it with `gsatlcd --start'."


def snapshot(gsat):
    """Everything a wrongly accepted request could change in the store."""
    base = os.path.join(gsat.g, "gschedule")
    with open(os.path.join(base, "nextJobId")) as f:
        counter = f.read()
    jobs = sorted(os.listdir(os.path.join(base, "jobs")))
    links = {s: sorted(os.listdir(os.path.join(base, s))) for s in STATES}
    state_files = {j: gsat.attr(j[:-2], "job.state") for j in jobs if j.endswith(".d")}
    return counter, jobs, links, state_files


def one_line_error(p, code, *fragments):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def _settled(gsat, job_id, state):
    # set_state writes job.state before it moves the link; wait for both so
    # the snapshot taken next is not racing the controller.
    links = [s for s in STATES if os.path.lexists(os.path.join(gsat.g, "gschedule", s, job_id + ".d"))]
    return gsat.state(job_id) == state and links == [state]


@pytest.fixture
def ready(gsat):
    """A running controller with one finished job (00000)."""
    gsat.start()
    job_id = gsat.qsub(gsat.job("done.job", "true\n"))
    gsat.wait_for(lambda: _settled(gsat, job_id, "finished"), what="job 00000 finished")
    return gsat


def check_all(gsat, cases, check):
    """Run ``check(argv)`` for every case on one controller; report all misses."""
    failures = []
    for argv in cases:
        before = snapshot(gsat)
        p = gsat.run(*argv)
        try:
            check(argv, p)
            assert snapshot(gsat) == before, "store changed"
        except AssertionError as e:
            failures.append("%r -> rc=%d stdout=%r stderr=%r: %s" % (argv, p.returncode, p.stdout, p.stderr, e))
    assert not failures, "\n".join(failures)


# -- gqsub ----------------------------------------------------------------------------

def test_missing_job_file(ready):
    before = snapshot(ready)
    p = ready.run("gqsub", "no-such.job")
    one_line_error(p, 1, "no-such.job")
    assert snapshot(ready) == before


def test_directory_as_job_file(ready):
    before = snapshot(ready)
    os.mkdir(os.path.join(ready.jobs, "adir"))
    p = ready.run("gqsub", "adir")
    one_line_error(p, 1, "adir")
    assert snapshot(ready) == before


def _without_dac_override():
    # root reads mode-000 files; dropping the DAC capabilities from the
    # bounding set makes the permission bits real again for the client.
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("running as root and setpriv(1) is missing: cannot make a file unreadable")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search"]


def test_unreadable_job_file(ready):
    prefix = _without_dac_override()
    job = ready.job("secret.job", "true\n")
    os.chmod(job, 0)
    probe = subprocess.run(prefix + ["cat", job], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("cannot make a file unreadable here (capabilities not droppable)")
    before = snapshot(ready)
    p = ready.run(*(prefix + ["gqsub", job]))
    one_line_error(p, 1, "secret.job")
    assert snapshot(ready) == before


@pytest.mark.parametrize("name", ["semi;colon.job", "new\nline.job"])
def test_job_path_that_the_protocol_cannot_carry(ready, name):
    ready.job(name, "true\n")
    before = snapshot(ready)
    p = ready.run("gqsub", name)
    one_line_error(p, 1)
    assert snapshot(ready) == before


def test_job_file_larger_than_max_job_size_is_refused_by_gqsub(ready):
    big = ready.job("big.job", "true\n" + "#" * 300 + "\n")
    small = ready.job("small.job", "true\n")
    before = snapshot(ready)
    ready.env["GSAT_MAX_JOB_SIZE"] = "200"
    try:
        p = ready.run("gqsub", small, big)
    finally:
        del ready.env["GSAT_MAX_JOB_SIZE"]
    one_line_error(p, 1, "max_job_size")
    assert p.stdout == ""
    assert snapshot(ready) == before


def test_one_bad_file_among_several_queues_nothing(ready):
    good = ready.job("good.job", "true\n")
    before = snapshot(ready)
    p = ready.run("gqsub", good, "missing.job")
    assert p.returncode == 1
    assert p.stdout == ""
    assert snapshot(ready) == before


# -- job ids --------------------------------------------------------------------------

BAD_IDS = ["../../x", "abc", "", "0x1", "00000.d", "99999", "\u0663", "0/../0"]
ID_COMMANDS = [["gqhold"], ["gqrls"], ["gqdel"], ["gqsig"], ["gqsig", "-s", "USR1"],
               ["gsatctl", "--qhold"], ["gsatctl", "-r"], ["gsatctl", "-d"]]


@pytest.mark.slow
def test_invalid_job_ids(ready):
    cases = [cmd + [bad] for cmd in ID_COMMANDS for bad in BAD_IDS]
    cases += [["gqstat", "-f", bad] for bad in BAD_IDS if bad]

    def check(argv, p):
        one_line_error(p, 1)
        if argv[-1]:
            assert argv[-1] in p.stderr

    check_all(ready, cases, check)


def test_gqstat_f_empty_job_id(ready):
    p = ready.run("gqstat", "-f", "")
    one_line_error(p, 1)


def test_gqrls_of_job_not_held(ready):
    before = snapshot(ready)
    p = ready.run("gqrls", "00000")
    one_line_error(p, 1)
    assert p.stderr == 'gqrls[gsatellite/interface]: qrls failed! Job "00000" not in held state!\n'
    assert snapshot(ready) == before


def test_gqsig_of_job_not_running(ready):
    before = snapshot(ready)
    p = ready.run("gqsig", "-s", "USR1", "0")
    one_line_error(p, 1)
    assert snapshot(ready) == before


def test_gqhold_of_ended_job(ready):
    before = snapshot(ready)
    p = ready.run("gqhold", "0")
    one_line_error(p, 1)
    assert snapshot(ready) == before


# -- controller not running -----------------------------------------------------------

def test_controller_not_running(ready):
    job = ready.job("later.job", "true\n")
    assert ready.stop().returncode == 0
    cases = [["gqsub", job], ["gqhold", "0"], ["gqrls", "0"], ["gqdel", "0"],
             ["gqsig", "0"], ["gqsig", "-s", "USR1", "0"],
             ["gsatctl", "--qsub", job], ["gsatctl", "-d", "0"]]

    def check(argv, p):
        one_line_error(p, 69, NOT_RUNNING)
        assert p.stderr.startswith(argv[0] + ": ")

    check_all(ready, cases, check)
    # gqstat reads the store itself and needs no controller.
    p = ready.run("gqstat")
    assert p.returncode == 0
    assert p.stdout.splitlines()[2].split()[:2] == ["finished", "00000"]


# -- usage errors ---------------------------------------------------------------------

USAGE_CASES = [
    (["gsatctl"], 1),
    (["gsatctl", "--bogus"], 64),
    (["gsatctl", "-x", "0"], 64),
    (["gsatctl", "--qhold"], 64),
    (["gsatctl", "-h", "0", "-h", "0"], 64),
    (["gqsub"], 64),
    (["gqhold"], 64),
    (["gqrls"], 64),
    (["gqdel"], 64),
    (["gqhold", "0", "1"], 64),
    (["gqhold", "--bogus"], 64),
    (["gqsig"], 64),
    (["gqsig", "-s"], 64),
    (["gqsig", "--bogus", "0"], 64),
    (["gqsig", "0", "1"], 64),
    (["gqstat", "--bogus"], 64),
    (["gqstat", "-s"], 64),
    (["gqstat", "-t"], 64),
    (["gqstat", "-s", "queued", "-s", "held"], 64),
    (["gqstat", "extra"], 64),
]


def test_usage_errors(ready):
    codes = {tuple(argv): code for argv, code in USAGE_CASES}

    def check(argv, p):
        assert p.returncode == codes[tuple(argv)]
        assert p.stderr.strip() != ""

    check_all(ready, [argv for argv, _ in USAGE_CASES], check)


def test_unknown_signal_name(ready):
    p = ready.run("gqsig", "-s", "NOSUCHSIG", "0")
    assert p.returncode == 64
    assert "NOSUCHSIG" in p.stderr


# -- a corrupt store ----------------------------------------------------------------

def _log(gsat):
    with open(os.path.join(gsat.g, "var", "log", "gsatlc.log"), errors="replace") as f:
        return f.read()


def test_corrupt_next_job_id_is_repaired(gsat):
    gsat.start()
    ids = gsat.qsub(*[gsat.job("j%d.job" % n, "true\n") for n in range(3)])
    assert ids == ["00000", "00001", "00002"]
    for job_id in ids:
        gsat.wait_state(job_id, "finished")
    counter = os.path.join(gsat.g, "gschedule", "nextJobId")
    with open(counter, "w") as f:
        f.write("garbage\n")
    new = gsat.qsub(gsat.job("after.job", "true\n"), gsat.job("after2.job", "true\n"))
    assert new == ["00003", "00004"]
    assert "nextJobId" in _log(gsat)
    with open(counter) as f:
        assert f.read().strip() == "5"
    all_ids = sorted(d[:-2] for d in os.listdir(os.path.join(gsat.g, "gschedule", "jobs")) if d.endswith(".d"))
    assert all_ids == ["00000", "00001", "00002", "00003", "00004"]
    for job_id in new:
        assert gsat.wait_state(job_id, ("finished", "failed")) == "finished"
    # The jobs that existed before kept their own files.
    for job_id, n in zip(ids, range(3)):
        assert gsat.attr(job_id, "job.name") == "j%d.job" % n


def test_corrupt_job_state_is_reconciled_at_restart(gsat):
    gsat.start()
    job_id = gsat.qsub(gsat.job("x.job", "true\n"))
    gsat.wait_state(job_id, "finished")
    assert gsat.stop().returncode == 0
    with open(os.path.join(gsat.job_dir(job_id), "job.state"), "w") as f:
        f.write("bogus\n")
    gsat.start()
    assert gsat.state(job_id) == "finished"
    links = [s for s in STATES if os.path.lexists(os.path.join(gsat.g, "gschedule", s, job_id + ".d"))]
    assert links == ["finished"]
    rows = gsat.run("gqstat").stdout.splitlines()[2:]
    assert [r.split()[:2] for r in rows] == [["finished", job_id]]
    assert "finished" in gsat.run("gqstat", "-f", job_id).stdout
    # The store still works afterwards.
    new = gsat.qsub(gsat.job("y.job", "true\n"))
    assert new == "00001"
    gsat.wait_for(lambda: _settled(gsat, new, "finished"), what="job 00001 finished")

"""A full disk and a read-only store (issue 11 item 5): every command
answers with one clear line and its documented exit code, nothing is left
half-written (no hidden temporary file, no message in an inbox, no half
job, no truncated ``job.state``), and once space is freed the queue goes on.

``$HOME`` is a 2 MB tmpfs (mounted for the test; skipped, with the reason,
where mounting is impossible).
"""

import os
import subprocess

import pytest

from tests.fullfs import fill, hidden_leftovers, mount_tmpfs, umount

STATES = ("queued", "running", "held", "finished", "failed")


@pytest.fixture
def small_home(gsat):
    mount_tmpfs(gsat.home, "2m")
    try:
        yield gsat
    finally:
        gsat.cleanup()  # the daemons hold files on it
        umount(gsat.home)


def store(gsat):
    """What a half-done write could change: job directories (with their
    state files), links, and leftovers."""
    base = os.path.join(gsat.g, "gschedule")
    jobs = sorted(os.listdir(os.path.join(base, "jobs")))
    states = {j: gsat.attr(j[:-2], "job.state") for j in jobs if j.endswith(".d")}
    links = {s: sorted(os.listdir(os.path.join(base, s))) for s in STATES}
    return jobs, states, links


def inbox_entries(gsat):
    return os.listdir(gsat.controller_box())


def one_line(p, code, *fragments):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_gqsub_on_a_full_home_says_so_and_leaves_no_empty_message(small_home):
    gsat = small_home
    gsat.start()
    go = os.path.join(gsat.tmp, "go")  # outside the small $HOME
    running = gsat.qsub(gsat.job("wait.job", "while [ ! -e %s ]; do sleep 0.05; done\n" % go))
    gsat.wait_state(running, "running")
    queued = gsat.qsub(gsat.job("queued.job", "echo queued ran\n"))
    before = store(gsat)
    filler = fill(gsat.home)

    job = gsat.job("more.job", "true\n")
    one_line(gsat.run("gqsub", job), 79, "No space left on device")
    one_line(gsat.run("gqhold", queued), 79, "No space left on device")
    one_line(gsat.run("gqdel", queued), 79, "No space left on device")
    p = gsat.run("gqstat")
    assert p.returncode == 0 and queued in p.stdout, p.stderr
    assert gsat.run("gqclean").returncode == 0  # nothing ended: nothing to send
    assert store(gsat) == before
    assert inbox_entries(gsat) == []
    assert hidden_leftovers(gsat.g) == []
    assert gsat.controller_pid() and os.kill(gsat.controller_pid(), 0) is None

    os.unlink(filler)
    open(go, "w").close()
    gsat.wait_state(running, "finished")
    gsat.wait_state(queued, "finished")
    assert gsat.attr(queued, "job.stdout") == "queued ran"
    again = gsat.qsub(job)
    gsat.wait_state(again, "finished")
    assert hidden_leftovers(gsat.g) == []


def test_job_too_big_for_the_space_left_is_refused_whole(small_home):
    gsat = small_home
    gsat.start()
    first = gsat.qsub(gsat.job("first.job", "true\n"))
    gsat.wait_state(first, "finished")
    big = gsat.job("big.job", "true\n" + "#" * (400 * 1024) + "\n")
    filler = fill(gsat.home)
    # Room for the request and the job's small files, not for its copy.
    with open(filler, "r+b") as f:
        f.truncate(max(0, os.path.getsize(filler) - 96 * 1024))
    before = store(gsat)
    p = gsat.run("gqsub", big)
    # The controller took the request and ran out of space building the job.
    one_line(p, 1, "qsub failed")
    assert p.stdout == ""
    with open(os.path.join(gsat.g, "var", "log", "gsatlc.log")) as f:
        assert "No space left on device" in f.read()
    after = store(gsat)
    assert after == before, "a half job was left: %r" % (after,)
    assert inbox_entries(gsat) == []
    assert hidden_leftovers(gsat.g) == []
    os.unlink(filler)
    again = gsat.qsub(big)
    gsat.wait_state(again, "finished")


def test_gqclean_on_a_full_home_removes_nothing_and_says_why(small_home):
    gsat = small_home
    gsat.start()
    done = gsat.qsub(gsat.job("done.job", "true\n"))
    gsat.wait_state(done, "finished")
    gsat.wait_for(lambda: os.path.lexists(os.path.join(gsat.g, "gschedule", "finished", done + ".d")))
    before = store(gsat)
    filler = fill(gsat.home)
    one_line(gsat.run("gqclean"), 79, "No space left on device")
    assert store(gsat) == before
    assert inbox_entries(gsat) == []
    os.unlink(filler)
    assert gsat.run("gqclean").returncode == 0
    assert not os.path.exists(gsat.job_dir(done))


def test_read_only_store_gives_one_line_per_command(small_home):
    gsat = small_home
    gsat.start()
    done = gsat.qsub(gsat.job("done.job", "echo out\n"))
    gsat.wait_state(done, "finished")
    gsat.stop()
    p = subprocess.run(["mount", "-o", "remount,ro", gsat.home], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("cannot remount read-only: %s" % p.stderr.strip())
    before = store(gsat)
    job = gsat.job("x.job", "true\n")
    # No controller can run on a read-only $HOME: the clients say so.
    for argv, code in ((("gqsub", job), 69), (("gqhold", done), 69), (("gqclean",), 79)):
        p = gsat.run(*argv)
        one_line(p, code)
    p = gsat.run("gqstat")
    assert p.returncode == 0 and done in p.stdout, p.stderr
    p = gsat.run("gqpeek", done)
    assert (p.returncode, p.stdout) == (0, "out\n")
    p = gsat.run("gsatlcd", "--start")
    assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
    assert store(gsat) == before


def test_store_turned_read_only_under_a_running_controller(small_home):
    gsat = small_home
    gsat.start()
    done = gsat.qsub(gsat.job("done.job", "true\n"))
    gsat.wait_state(done, "finished")
    # The controller keeps files open for writing, so the tmpfs itself cannot
    # turn read-only; a read-only bind mount over it can (for new lookups).
    p = subprocess.run(["mount", "--bind", gsat.home, gsat.home], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("cannot bind-mount: %s" % p.stderr.strip())
    p = subprocess.run(["mount", "-o", "remount,bind,ro", gsat.home], capture_output=True, text=True)
    if p.returncode != 0:
        umount(gsat.home)
        pytest.skip("cannot remount read-only: %s" % p.stderr.strip())
    try:
        before = store(gsat)
        for argv in (("gqsub", gsat.job("x.job", "true\n")), ("gqhold", done), ("gqclean",)):
            one_line(gsat.run(*argv), 79, "Read-only file system")
        assert store(gsat) == before
        assert inbox_entries(gsat) == []
    finally:
        subprocess.run(["umount", gsat.home], capture_output=True)
    again = gsat.qsub(gsat.job("y.job", "true\n"))
    gsat.wait_state(again, "finished")

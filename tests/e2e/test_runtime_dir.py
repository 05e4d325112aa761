"""Nothing another local user can block or read (issue 11 item 6).

gqwait's FIFO goes into a host-local directory whose name anyone can
predict (``$XDG_RUNTIME_DIR/gsatellite``, ``$TMPDIR/gsatellite-UID``), so
another user may create it first.  Each test plays that user as root: the
directory is made, handed to uid 65534 and opened to everyone (or replaced
by a symlink into a directory of theirs), and gqwait must still wait and
return the job's value, while nothing is written into the hostile place.

``TMPDIR`` points at a sticky, world-writable directory of the test (a
stand-in for ``/tmp``), so no real ``/tmp/gsatellite-UID`` is touched.
"""

import os
import subprocess

import pytest

OTHER_UID = 65534


@pytest.fixture
def tmpdir_like_tmp(gsat):
    if os.geteuid() != 0:
        pytest.skip("playing another user needs root (chown)")
    tmp = str(gsat.tmp / "tmp")
    os.mkdir(tmp)
    os.chmod(tmp, 0o1777)
    gsat.env["TMPDIR"] = tmp
    gsat.env.pop("XDG_RUNTIME_DIR", None)
    return tmp


def _hostile_dir(path):
    os.mkdir(path)
    os.chown(path, OTHER_UID, OTHER_UID)
    os.chmod(path, 0o777)


def _wait_for_a_job(gsat, tmp, hostile=None):
    """gqwait for a job that exits 3; ``(exit code, stderr, FIFO path, lstat
    of the FIFO's directory, listing of ``hostile``)``, the last two taken
    while gqwait waits (its FIFO is gone once it has returned)."""
    gsat.start()
    go = os.path.join(gsat.tmp, "go")
    job_id = gsat.qsub(gsat.job("exit3.job", "while [ ! -e %s ]; do sleep 0.05; done\nexit 3\n" % go))
    p = subprocess.Popen(["gqwait", job_id], env=gsat.env, cwd=gsat.jobs, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    gsat.extra_pids.append(p.pid)
    # The registration is the sentinel that gqwait waits on its FIFO.
    gsat.wait_for(lambda: gsat.attr(job_id, "job.waiters") != "" or p.poll() is not None,
                  what="gqwait registered")
    fifo, st, seen = None, None, None
    if p.poll() is None:
        fifo = gsat.attr(job_id, "job.waiters").split(" ", 1)[1]
        st = os.lstat(os.path.dirname(fifo))
        seen = os.listdir(hostile) if hostile else []
    open(go, "w").close()
    out, err = p.communicate(timeout=30)
    assert seen == [], "gqwait wrote into %s: %s" % (hostile, seen)
    return p.returncode, err, fifo, st


def test_gsatellite_dir_in_tmp_owned_by_another_user_does_not_block_gqwait(gsat, tmpdir_like_tmp):
    hostile = os.path.join(tmpdir_like_tmp, "gsatellite-%d" % os.getuid())
    _hostile_dir(hostile)
    code, err, fifo, st = _wait_for_a_job(gsat, tmpdir_like_tmp, hostile)
    assert (code, err) == (3, "")
    assert not fifo.startswith(hostile + "/")
    assert (st.st_uid, oct(st.st_mode)) == (os.getuid(), oct(0o40700))
    # The fallback directory is gqwait's own and gone with it.
    assert not os.path.exists(os.path.dirname(fifo))


def test_symlink_planted_as_runtime_dir_is_not_followed(gsat, tmpdir_like_tmp):
    theirs = str(gsat.tmp / "theirs")
    _hostile_dir(theirs)
    os.symlink(theirs, os.path.join(tmpdir_like_tmp, "gsatellite-%d" % os.getuid()))
    code, err, fifo, st = _wait_for_a_job(gsat, tmpdir_like_tmp, theirs)
    assert (code, err) == (3, "")


def test_hostile_xdg_runtime_dir_is_skipped(gsat, tmpdir_like_tmp):
    run = str(gsat.tmp / "run")
    os.mkdir(run, 0o700)
    _hostile_dir(os.path.join(run, "gsatellite"))
    gsat.env["XDG_RUNTIME_DIR"] = run
    code, err, fifo, st = _wait_for_a_job(gsat, tmpdir_like_tmp, os.path.join(run, "gsatellite"))
    assert (code, err) == (3, "")
    # The next candidate, $TMPDIR/gsatellite-UID, was free and is ours.
    assert os.path.dirname(fifo) == os.path.join(tmpdir_like_tmp, "gsatellite-%d" % os.getuid())


def test_own_runtime_dir_left_open_is_closed(gsat, tmpdir_like_tmp):
    mine = os.path.join(tmpdir_like_tmp, "gsatellite-%d" % os.getuid())
    os.mkdir(mine)
    os.chmod(mine, 0o777)
    code, err, fifo, st = _wait_for_a_job(gsat, tmpdir_like_tmp)
    assert (code, err) == (3, "")
    assert os.path.dirname(fifo) == mine
    assert oct(st.st_mode) == oct(0o40700)

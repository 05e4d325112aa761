"""gqstat's listing in two processes (cli/halves.py) prints exactly what
one process prints: the same text in job order, the same damaged-job
messages in job order, also when the fork or the child fails; and the job
view's reads (job._read) classify what is not a job file as before."""

import os

import pytest

from gsatellite import job, states, views
from gsatellite.cli import halves
from tests.unit.test_views_client import new_job, store  # noqa: F401 - the fixture


@pytest.fixture
def listing(store, tmp_path, monkeypatch):  # noqa: F811
    """Nine jobs, damaged ones in both halves; the split made for any size."""
    ids = [new_job(store, tmp_path, name="j%d.job" % k, state=states.FINISHED) for k in range(8)]
    os.unlink(os.path.join(job.Job(ids[1]).dir, "job.state"))
    os.mkdir(os.path.join(job.Job(ids[1]).dir, "job.state"))  # first half
    store.write(ids[6], "job.state", "bogus\nline")  # second half
    os.mkfifo(os.path.join(job.Job(ids[7]).dir, "job.execHost"))  # second half, a FIFO
    # A name in jobs/ with a space lists as job "a b"; damaged, last.
    os.makedirs(os.path.join(os.path.dirname(job.Job(ids[0]).dir), "a b.d", "job.state"))
    monkeypatch.setattr(halves, "MIN_JOBS", 2)
    monkeypatch.setattr(halves, "_processors", lambda: 2)
    return ids


def _one_process(render):
    bad = []
    text = "".join(views.sound(job.jobs(), render, lambda j, p: bad.append((j.id, p))))
    return text, bad


def _split(render):
    bad = []
    text = halves.sound(job.jobs(), render, lambda j, p: bad.append((j.id, p)))
    return text, bad


@pytest.mark.parametrize("render", [views.row, lambda j: views.detailed(j, True) + "\n"], ids=["table", "-f"])
def test_two_halves_print_what_one_process_prints(listing, render):
    text, bad = _split(render)
    assert (text, bad) == _one_process(render)
    assert [i for i, _ in bad] == [listing[1], listing[6], listing[7], "a b"]
    assert "not a regular file" in bad[2][1] and "a directory" in bad[0][1]
    if render is views.row:
        assert len(text.splitlines()) == 5


def test_a_failed_fork_renders_here(listing, monkeypatch):
    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert _split(views.row) == _one_process(views.row)


def test_a_child_that_dies_is_replaced_by_this_process(listing):
    parent = os.getpid()

    def render(j):
        if os.getpid() != parent:
            os._exit(3)  # the child dies half way
        return views.row(j)

    assert _split(render) == _one_process(views.row)


def test_reads_classify_what_is_not_a_job_file(tmp_path):
    d = tmp_path
    (d / "small").write_text("finished\n")
    (d / "empty").write_text("")
    (d / "long").write_bytes(b"x" * (3 * 65536 + 5))
    (d / "whole").write_bytes(b"y" * 65536)
    os.mkdir(d / "dir")
    os.mkfifo(d / "fifo")
    assert job._read(str(d / "empty")) == ("", None)
    assert job._read(str(d / "long")) == ("x" * (3 * 65536 + 5), None)
    assert job._read(str(d / "whole")) == ("y" * 65536, None)
    assert job._read(str(d / "dir")) == (None, "a directory")
    assert job._read(str(d / "fifo")) == (None, "not a regular file")
    assert job._read(str(d / "missing")) == (None, None)
    assert job._read(str(d / "small")) == ("finished\n", None)

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
    if render is views.row:  # gqstat's table: ids, no job view per job
        ids, base, fd = job.listing()
        text = halves.sound(ids, lambda part, tell: views.table_rows(part, base, fd, tell),
                            lambda i, p: bad.append((ids[i], p)))
        return text, bad
    jobs = job.jobs()
    text = halves.sound(jobs, lambda part, tell: views.sound_at(part, render, tell),
                        lambda i, p: bad.append((jobs[i].id, p)))
    return text, bad


def _detailed(j):
    return views.detailed(j, True) + "\n"


@pytest.mark.parametrize("render", [views.row, _detailed], ids=["table", "-f"])
def test_two_halves_print_what_one_process_prints(listing, render):
    text, bad = _split(render)
    assert (text, bad) == _one_process(render)
    assert [i for i, _ in bad] == [listing[1], listing[6], listing[7], "a b"]
    assert "not a regular file" in bad[2][1] and "a directory" in bad[0][1]
    if render is views.row:
        assert len(text.splitlines()) == 5


@pytest.mark.parametrize("render", [views.row, _detailed], ids=["table", "-f"])
def test_a_failed_fork_renders_here(listing, monkeypatch, render):
    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert _split(render) == _one_process(render)


def test_a_child_that_dies_is_replaced_by_this_process(listing, monkeypatch):
    parent = os.getpid()
    rows = views.table_rows

    def table_rows(*args):
        if os.getpid() != parent:
            os._exit(3)  # the child dies half way
        return rows(*args)

    monkeypatch.setattr(views, "table_rows", table_rows)
    assert _split(views.row) == _one_process(views.row)


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


def test_the_tables_quick_reads_print_what_a_job_view_prints(store, tmp_path, monkeypatch):  # noqa: F811
    """views.table_rows reads the common job itself (job.table_fields) and
    every other through a Job view: the same lines and the same damage as
    views.sound with views.row, whatever the store holds; and the common job
    really is read without a view."""
    def made(name="j.job", state=states.FINISHED, **files):
        job_id = new_job(store, tmp_path, name=name, state=state)
        d = job.Job(job_id).dir
        for attr, content in files.items():
            path = os.path.join(d, attr.replace("_", "."))
            if os.path.isdir(path):
                os.rmdir(path)
            elif os.path.lexists(path):
                os.unlink(path)
            if content == "DIR":
                os.mkdir(path)
            elif content == "FIFO":
                os.mkfifo(path)
            elif content is not None:
                with open(path, "wb") as f:
                    f.write(content if isinstance(content, bytes) else content.encode())
        return job_id

    common = made(job_execHost="node1\n")
    made(state=states.QUEUED)  # no job.execHost
    made(job_execHost="")
    made(job_execHost="h\u00f4st\n")
    made(job_execHost="evil\x1b[2Jhost\n")
    made(name="n" * 40 + ".job")
    made(name="tab\tname.job")
    made(job_state="bogus\n")
    made(job_state="")
    made(job_state="\n")
    made(job_state=" running \n")
    made(job_state="DIR")
    made(job_state=None)
    made(job_execHost="FIFO")
    made(job_execHost="DIR")
    made(job_execHost="x" * 70000)
    made(job_state="finished\n" + "#" * (65536 - 9))  # one whole buffer
    made(job_state="finished" + " " * (65536 - 8) + "\nX")  # a state word in its first buffer only
    looping = made()
    os.symlink("job.execHost", os.path.join(job.Job(looping).dir, "job.execHost"))  # ELOOP
    copyless = made()
    os.unlink(os.path.join(job.Job(copyless).dir, copyless))
    os.makedirs(os.path.join(os.path.dirname(job.Job(common).dir), "a b.d"))

    want_bad = []
    want = "".join(views.sound(job.jobs(), views.row, lambda j, p: want_bad.append((j.id, p))))
    assert len(want_bad) >= 5  # the damaged jobs above are damage
    ids, base, fd = job.listing()
    for descriptor in (fd, None):  # None: every job through a view
        bad = []
        got = "".join(views.table_rows(ids, base, descriptor, lambda i, p, bad=bad: bad.append((ids[i], p))))
        assert (got, bad) == (want, want_bad)

    views_made = []
    real = job.Job
    monkeypatch.setattr(job, "Job", lambda *a: views_made.append(a[0]) or real(*a))
    assert views.table_rows([common], base, fd, None) == [views.row(real(common))]
    assert views_made == []


@pytest.mark.parametrize("host", [None, ""], ids=["no-host", "empty-host"])
def test_the_table_reads_no_job_file_twice(store, tmp_path, host):  # noqa: F811
    """A job.state that gives its bytes once only (a FIFO with a writer) is
    read once: a job the quick reads hand on to a view (a name to escape, an
    empty job.execHost) lists as one read of it shows it, not as damage."""
    job_id = new_job(store, tmp_path, name="j\u00f6b.job", state=states.FINISHED)
    d = job.Job(job_id).dir
    if host is not None:
        with open(os.path.join(d, "job.execHost"), "w") as f:
            f.write(host)
    os.unlink(os.path.join(d, "job.state"))
    os.mkfifo(os.path.join(d, "job.state"))
    writer = os.open(os.path.join(d, "job.state"), os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(writer, b"finished\n")
        bad = []
        want = "".join(views.sound(job.jobs(), views.row, lambda j, p: bad.append(p)))
        assert want.startswith("finished") and bad == []
        os.write(writer, b"finished\n")
        ids, base, fd = job.listing()
        assert "".join(views.table_rows(ids, base, fd, lambda i, p: bad.append(p))) == want
        assert bad == []
    finally:
        os.close(writer)

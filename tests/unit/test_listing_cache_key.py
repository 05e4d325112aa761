"""The listing cache's key (lib/gsatellite/listcache.py): taken before a
job's files are read, from the ``job.state`` the table reads when the
cache holds nothing of the job (no ``stat`` of its own then), and only of
a regular file that has settled."""

import os
import time

import pytest

from gsatellite import listcache, views


@pytest.fixture
def store(tmp_path):
    jobs = tmp_path / "jobs"
    for n in range(3):
        d = jobs / ("%05d.d" % n)
        (d / "jobtmp").mkdir(parents=True)
        (d / "job.state").write_text("finished\n")
        (d / "job.execHost").write_text("h\n")
        os.symlink(str(d / "jobtmp" / "j.sh"), str(d / ("%05d" % n)))
        old = time.time() - 2 * listcache.SETTLE
        os.utime(str(d / "job.state"), (old, old))
    fd = os.open(str(jobs), os.O_RDONLY | os.O_DIRECTORY)
    yield str(jobs), fd
    os.close(fd)


def _stats_at(monkeypatch, fd):
    """The ``stat`` calls made through the jobs directory ``fd``."""
    seen = []
    real = os.stat

    def counting(path, *args, **kwargs):
        if kwargs.get("dir_fd") == fd:
            seen.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting)
    return seen


def test_a_first_listing_keys_each_job_by_the_state_it_read(store, monkeypatch):
    jobs_dir, fd = store
    ids = ["00000", "00001", "00002"]
    cache = listcache.Cache(fd, None)
    seen = _stats_at(monkeypatch, fd)
    first = views.table_rows(ids, jobs_dir, fd, lambda i, p: pytest.fail(p), cache)
    assert seen == []  # nothing held: the key came from the read itself
    assert set(cache.entries) == set(ids)
    # The next listing finds each job under that key: its line, no read.
    again = listcache.Cache(fd, None)
    again.take(cache.dump())
    assert [again.look(j) for j in ids] == [{"job.state": "finished", views._LINE: line} for line in first]
    assert len(seen) == 3


def test_a_state_read_that_has_not_settled_or_is_no_file_gives_no_key(store):
    jobs_dir, fd = store
    cache = listcache.Cache(fd, None)
    line = {"job.state": "finished", views._LINE: "finished 00000\n"}
    fresh = os.stat(os.path.join(jobs_dir, "00000.d", "job.state"))
    os.utime(os.path.join(jobs_dir, "00000.d", "job.state"))
    cache.keep("00000", line, os.stat(os.path.join(jobs_dir, "00000.d", "job.state")))
    cache.keep("00001", line, None)
    directory = os.path.join(jobs_dir, "00002.d", "jobtmp")
    os.utime(directory, (1, 1))
    cache.keep("00002", line, os.stat(directory))
    assert cache.entries == {}
    cache.keep("00000", line, fresh)
    assert list(cache.entries) == ["00000"]


def test_a_job_state_that_is_a_link_is_keyed_by_the_file_it_names(store, tmp_path):
    jobs_dir, fd = store
    old = time.time() - 2 * listcache.SETTLE
    targets = []
    for word in ("finished", "failed"):
        target = tmp_path / word
        target.write_text(word + "\n")
        os.utime(str(target), (old, old))
        targets.append(str(target))
    state = os.path.join(jobs_dir, "00001.d", "job.state")
    os.unlink(state)
    os.symlink(targets[0], state)
    ids = ["00000", "00001", "00002"]
    first = listcache.Cache(fd, None)
    lines = views.table_rows(ids, jobs_dir, fd, lambda i, p: pytest.fail(p), first)
    assert lines[1].startswith("finished ")
    again = listcache.Cache(fd, None)
    again.take(first.dump())
    assert again.look("00001") == {"job.state": "finished", views._LINE: lines[1]}
    os.unlink(state)
    os.symlink(targets[1], state)
    assert again.look("00001") is None
    assert views.table_rows(ids, jobs_dir, fd, lambda i, p: pytest.fail(p), again)[1].startswith("failed ")


def test_a_fifo_or_directory_at_job_state_is_reported_never_keyed_and_never_waited_for(store):
    jobs_dir, fd = store
    os.unlink(os.path.join(jobs_dir, "00001.d", "job.state"))
    os.mkfifo(os.path.join(jobs_dir, "00001.d", "job.state"))
    os.unlink(os.path.join(jobs_dir, "00002.d", "job.state"))
    os.mkdir(os.path.join(jobs_dir, "00002.d", "job.state"))
    old = time.time() - 2 * listcache.SETTLE
    for n in ("00001", "00002"):
        os.utime(os.path.join(jobs_dir, n + ".d", "job.state"), (old, old))
    cache = listcache.Cache(fd, None)
    damaged = []
    lines = views.table_rows(["00000", "00001", "00002"], jobs_dir, fd,
                             lambda i, problem: damaged.append(i), cache)
    assert len(lines) == 1 and lines[0].startswith("finished ")
    assert damaged == [1, 2]
    assert list(cache.entries) == ["00000"]

"""The listing cache's file format (lib/gsatellite/listcache.py): what one
process writes another reads back whole, and no text, however mangled,
makes a reader raise (the file is the user's to damage; a listing must
only ever lose time)."""

import os
import random

import pytest

from gsatellite import listcache


@pytest.fixture
def jobs_fd(tmp_path):
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def test_what_one_process_keeps_another_takes_whole(jobs_fd):
    a = listcache.Cache(jobs_fd, None)
    entries = {
        "00001": {"job.state": "finished\n", "job.execHost": None, "/line": "finished 00001 x y\n"},
        "0000 2": {"job.state": "failed\n", "job.name": "", "job.start": "1\n2\n"},
    }
    for job_id, read in entries.items():
        a.keys[job_id] = "k" + job_id
        a.keep(job_id, read)
    a.keys["00003"] = "k3"
    a.keep("00003", {"job.state": "running\n"})  # not ended: not kept
    b = listcache.Cache(jobs_fd, None)
    b.entries["00009"] = "old" + listcache.US
    a.dropped.add("00009")
    b.take(a.dump())
    assert set(b.entries) == set(entries)
    for job_id, read in entries.items():
        key = "k" + job_id
        body = listcache._body(job_id, b.entries[job_id])
        assert body.startswith(key + listcache.US)
        assert listcache._values(body[len(key) + 1:]) == read


def test_a_record_not_as_written_is_not_taken(jobs_fd):
    """A block lost in the middle of the file (a crash without fsync) joins
    the head of one record to the tail of another; a stale block left in
    place shifts records of the same length by one; a byte changes; a
    record moves under another id; one grows past the limit: the checksum
    (or the length) tells."""
    a = listcache.Cache(jobs_fd, None)
    for job_id, host in (("00001", "one"), ("00002", "two"), ("00003", "three")):
        a.keys[job_id] = "key"
        a.keep(job_id, {"job.state": "finished\n", "job.execHost": host + "\n"})
    one, two, three = (a.entries[j] for j in ("00001", "00002", "00003"))
    assert all(listcache._body(j, r) is not None for j, r in (("00001", one), ("00002", two), ("00003", three)))
    same_length = one[:one.index("job.execHost")] + two[two.index("job.execHost"):]
    assert len(same_length) == len(one) and listcache._body("00001", same_length) is None
    assert listcache._body("00001", one[:one.index("job.execHost")] + three[three.index("job.execHost"):]) is None
    assert listcache._body("00001", one.replace("finished", "Sinished")) is None
    assert listcache._body("00002", one) is None
    assert listcache._body("00001", "zz" + listcache.US + "x") is None
    big = listcache._record("00001", "key", {"job.state": "finished\n", "job.events": "x" * listcache.RECORD_LIMIT})
    assert listcache._body("00001", big) is None


def test_no_text_makes_a_reader_raise(jobs_fd):
    rng = random.Random(20261202)
    alphabet = ["a", "0", "=", "\n", "\0", listcache.FS, listcache.GS, listcache.RS, listcache.US, "\udcff"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        records = listcache._records(text)
        for record in records.values():
            listcache._values(record)
        cache = listcache.Cache(jobs_fd, None)
        cache.entries = dict(records)
        cache.take(text)
        for job_id in list(cache.entries):
            cache.keys[job_id] = text[:5]
            cache.keep(job_id, {"job.state": "finished"})


def test_a_file_not_whole_is_no_cache(tmp_path):
    path = tmp_path / "listing.table"
    record = "00001" + listcache.US + "1" + listcache.US + "k" + listcache.RS
    good = listcache.HEADER + record + listcache.RS + listcache.END
    path.write_text(good)
    assert listcache._load(str(path), 1000) == {"00001": "1" + listcache.US + "k"}
    swollen = listcache.HEADER + record * 2101 + listcache.RS + listcache.END
    for text in (good[1:], good[:-1], good.replace(listcache.HEADER, "gsatellite listing cache 2\n"),
                 good.replace("k", "\0"), swollen):
        path.write_text(text)
        assert listcache._load(str(path), 1000) == {}
    # As many records as twice the jobs of the store (and some) are read.
    path.write_text(swollen)
    assert len(listcache._load(str(path), 1001)) == 1
    # A file larger than that many records can be is not read at all.
    path.write_text(listcache.HEADER + record + "x" * (2200 * listcache.RECORD_LIMIT) + listcache.RS + listcache.END)
    assert listcache._load(str(path), 1000) == {}

"""The listing cache's file format (lib/gsatellite/listcache.py): what one
process writes another reads back whole, and no text, however mangled,
makes a reader raise (the file is the user's to damage; a listing must
only ever lose time)."""

import os
import random

from gsatellite import listcache


def _cache(tmp_path):
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    cache = listcache.Cache(fd, None)
    return cache


def test_what_one_process_keeps_another_takes_whole(tmp_path):
    a = _cache(tmp_path)
    entries = {
        "00001": {"job.state": "finished\n", "job.execHost": None, "/line": "finished 00001 x y\n"},
        "0000 2": {"job.state": "failed\n", "job.name": "", "job.start": "1\n2\n"},
    }
    for job_id, read in entries.items():
        a.keys[job_id] = "k" + job_id
        a.keep(job_id, read)
    a.keys["00003"] = "k3"
    a.keep("00003", {"job.state": "running\n"})  # not ended: not kept
    b = _cache(tmp_path)
    b.entries["00009"] = "old" + listcache.US
    a.dropped.add("00009")
    b.take(a.dump())
    assert set(b.entries) == set(entries)
    for job_id, read in entries.items():
        key = "k" + job_id
        assert b.entries[job_id].startswith(key + listcache.US)
        assert listcache._values(b.entries[job_id][len(key) + 1:]) == read


def test_no_text_makes_a_reader_raise(tmp_path):
    rng = random.Random(20261202)
    alphabet = ["a", "0", "=", "\n", "\0", listcache.FS, listcache.GS, listcache.RS, listcache.US, "\udcff"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        records = listcache._records(text)
        for record in records.values():
            listcache._values(record)
        cache = _cache(tmp_path)
        cache.entries = dict(records)
        cache.take(text)
        for job_id in list(cache.entries):
            cache.keys[job_id] = text[:5]
            cache.keep(job_id, {"job.state": "finished"})


def test_a_file_without_header_or_end_is_no_cache(tmp_path):
    path = tmp_path / "listing.table"
    good = listcache.HEADER + "00001" + listcache.US + "k" + listcache.RS + listcache.RS + listcache.END
    path.write_text(good)
    assert listcache._load(str(path)) == {"00001": "k"}
    for text in (good[1:], good[:-1], good.replace(listcache.HEADER, "gsatellite listing cache 2\n")):
        path.write_text(text)
        assert listcache._load(str(path)) == {}

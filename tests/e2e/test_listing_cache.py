"""gqstat's listing cache (lib/gsatellite/listcache.py) as a user meets it:
a long listing of ended jobs is served from ``G/var/cache/listing.*`` and
prints what the store says, through every change of a job's state, the
classic tools' in-place writes included; a damaged, absent or unwritable
cache only ever costs time.

The store is written directly in the classic layout (1,000 finished jobs,
the length from which listings use the cache), with ``job.state`` written
an hour ago unless a test says otherwise.  A file other than ``job.state``
edited in place is what the cache does not see (its documented limit); the
tests use that as the sentinel that shows whether a listing was served
from the cache.
"""

import os
import subprocess
import time

import pytest

N = 1000  # listcache.MIN_JOBS
HOST = "node1.example.org"
HOUR_AGO = int(time.time()) - 3600
RS, US = "\x1e", "\x1f"


def _write(path, text):
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)


def fill(g, n=N, aged=True, name=lambda k: "job-%05d.job" % k):
    """``n`` finished jobs in the classic layout; returns their ids."""
    base = os.path.join(g.g, "gschedule")
    for d in ("jobs", "queued", "running", "finished", "failed", "held"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    ids = []
    for k in range(n):
        job_id = "%05d" % k
        jdir = os.path.join(base, "jobs", job_id + ".d")
        os.makedirs(jdir)
        files = {"job.id": job_id, "job.name": name(k), "job.execHost": HOST,
                 "job.pid": str(5000000 + k), "job.start": "1700000000", "job.stop": "1700000001",
                 "job.exit": "0", "job.state": "finished"}
        for fname, text in files.items():
            _write(os.path.join(jdir, fname), text + "\n")
        os.symlink(os.path.join(jdir, "jobtmp", name(k)), os.path.join(jdir, job_id))
        os.symlink(jdir, os.path.join(base, "finished", job_id + ".d"))
        if aged:
            os.utime(os.path.join(jdir, "job.state"), (HOUR_AGO, HOUR_AGO))
        ids.append(job_id)
    _write(os.path.join(base, "nextJobId"), "%d\n" % n)
    return ids


def cache_file(g, kind="table"):
    return os.path.join(g.g, "var", "cache", "listing." + kind)


def cached_ids(g, kind="table"):
    """The ids the cache file holds (none when there is none)."""
    try:
        with open(cache_file(g, kind), encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except FileNotFoundError:
        return set()
    return {r.split(US, 1)[0] for r in text.split("\n", 1)[1].split(RS) if US in r}


def gqstat(g, *args):
    p = g.run("gqstat", *args, timeout=60)
    assert p.returncode == 0 and p.stderr == "", (p.returncode, p.stderr)
    return p.stdout


def line_of(out, job_id):
    found = [line for line in out.splitlines() if line[13:19].strip() == job_id]
    assert len(found) == 1, found
    return found[0]


def edit_in_place(g, job_id, fname, text):
    """Write a job file without a rename (as bash's ``echo x > file``)."""
    with open(os.path.join(g.job_dir(job_id), fname), "r+") as f:
        f.truncate(0)
        f.write(text)


def rewrite_state(g, job_id, word, when=HOUR_AGO - 60):
    """``job.state`` written anew by a rename (as our controller does),
    dated ``when`` so that the cache may take it."""
    path = os.path.join(g.job_dir(job_id), "job.state")
    _write(path + ".new", word + "\n")
    os.utime(path + ".new", (when, when))
    os.rename(path + ".new", path)


@pytest.mark.parametrize("args, kind", [((), "table"), (("-f",), "long")], ids=["table", "-f"])
def test_a_long_listing_is_served_from_the_cache_until_job_state_changes(gsat, args, kind):
    ids = fill(gsat)
    first = gqstat(gsat, *args)
    # Both halves of the listing (two processes on two cores) came back.
    assert cached_ids(gsat, kind) == set(ids)
    assert gqstat(gsat, *args) == first
    # A job in each half: its host edited in place, which the cache cannot
    # see (and no tool does): the listing still shows the old one.
    for job_id in ("00003", "00900"):
        edit_in_place(gsat, job_id, "job.execHost", "elsewhere.example.org\n")
    assert gqstat(gsat, *args) == first
    # A new job.state (a rename, as every state change of ours): read again.
    rewrite_state(gsat, "00900", "finished")
    out = gqstat(gsat, *args)
    assert out != first and "elsewhere" in out and out.count("elsewhere") == 1
    if not args:
        assert "elsewhere" in line_of(out, "00900") and HOST in line_of(out, "00003")
    assert cached_ids(gsat, kind) == set(ids)


def test_a_classic_in_place_hold_and_rerun_is_seen(gsat):
    """The classic gsatlc holds a finished job by moving its link and
    writing ``job.state`` in place (``echo held > job.state``); released,
    it runs again and ends in place too.  The job directory never changes;
    the listing follows every step even when ``job.state`` looks settled."""
    fill(gsat)
    gqstat(gsat)
    base = os.path.join(gsat.g, "gschedule")
    subprocess.run(["sh", "-c", 'rm "$1/finished/00500.d" && ln -s "$1/jobs/00500.d" "$1/held/00500.d" && '
                    'echo held > "$1/jobs/00500.d/job.state"', "sh", base], check=True)
    # Dated an hour ago again: only the key can tell it changed.
    os.utime(os.path.join(gsat.job_dir("00500"), "job.state"), (HOUR_AGO, HOUR_AGO))
    assert line_of(gqstat(gsat), "00500").split()[0] == "held"
    assert [line.split()[1] for line in gqstat(gsat, "-s", "held").splitlines()[2:]] == ["00500"]
    # Released and run again by the classic tools, on another host, in place.
    edit_in_place(gsat, "00500", "job.execHost", "node2.example.org\n")
    subprocess.run(["sh", "-c", 'rm "$1/held/00500.d" && ln -s "$1/jobs/00500.d" "$1/finished/00500.d" && '
                    'echo finished > "$1/jobs/00500.d/job.state"', "sh", base], check=True)
    os.utime(os.path.join(gsat.job_dir("00500"), "job.state"), (HOUR_AGO + 5, HOUR_AGO + 5))
    assert line_of(gqstat(gsat), "00500").split()[2] == "node2.example.org"


def test_jobs_that_ended_a_moment_ago_are_read_from_the_store(gsat):
    fill(gsat, aged=False)
    gqstat(gsat)
    assert cached_ids(gsat) == set()
    edit_in_place(gsat, "00007", "job.execHost", "elsewhere.example.org\n")
    assert "elsewhere" in line_of(gqstat(gsat), "00007")


def test_short_listings_never_touch_the_cache(gsat):
    fill(gsat, N - 1)
    gqstat(gsat)
    gqstat(gsat, "-f")
    assert not os.path.exists(os.path.join(gsat.g, "var", "cache", "listing.table"))
    assert not os.path.exists(os.path.join(gsat.g, "var", "cache", "listing.long"))


def test_removed_jobs_leave_the_cache_and_the_listing(gsat):
    ids = fill(gsat, N + 1)
    gqstat(gsat)
    base = os.path.join(gsat.g, "gschedule")
    subprocess.run(["sh", "-c", 'rm -rf "$1/jobs/00042.d" "$1/finished/00042.d"', "sh", base], check=True)
    out = gqstat(gsat)
    assert " 00042 " not in out and len(out.splitlines()) == 2 + N
    assert cached_ids(gsat) == set(ids) - {"00042"}
    # A listing of one state keeps what it did not list.
    gqstat(gsat, "-s", "failed")
    assert cached_ids(gsat) == set(ids) - {"00042"}


def test_a_job_holding_a_separator_is_listed_but_never_cached(gsat):
    odd = {5: "rs\x1ename.job", 600: "us\x1fname.job", 7: "fs\x1cname.job"}
    ids = fill(gsat, name=lambda k: odd.get(k, "job-%05d.job" % k))
    first = gqstat(gsat)
    assert "rs\\x1ename.job" in line_of(first, "00005")
    assert cached_ids(gsat) == set(ids) - {"00005", "00600", "00007"}
    assert gqstat(gsat) == first


@pytest.mark.parametrize("damage", ["garbage", "no end", "bad record", "fifo", "directory",
                                    "huge", "link to a device"])
def test_a_damaged_cache_is_no_cache(gsat, damage):
    fill(gsat)
    want = gqstat(gsat)
    path = cache_file(gsat)
    with open(path, encoding="utf-8") as f:
        good = f.read()
    os.unlink(path)
    if damage == "garbage":
        _write(path, "\x00\xff nonsense " * 1000)
    elif damage == "no end":
        _write(path, good[:len(good) // 2])
    elif damage == "bad record":
        # Every record of the second half cut after its key, the first
        # with an odd number of fields: each is read from the store again.
        records = good.split(RS)
        half = len(records) // 2
        records[half:] = [US.join(r.split(US, 2)[:2] + ["job.state"]) if US in r else r for r in records[half:]]
        _write(path, RS.join(records))
    elif damage == "fifo":
        os.mkfifo(path)
    elif damage == "directory":
        os.mkdir(path)
    elif damage == "huge":
        with open(path, "w") as f:
            f.write(good[:-10])
            f.truncate(65 << 20)  # sparse, above the limit
    elif damage == "link to a device":
        os.symlink("/dev/zero", path)
    assert gqstat(gsat) == want
    assert gqstat(gsat) == want
    if damage in ("garbage", "no end", "bad record", "huge"):
        assert cached_ids(gsat) == {"%05d" % k for k in range(N)}


def test_a_zeroed_block_in_the_cache_is_no_cache(gsat):
    """A crash can leave a block of zeros in a file renamed into place
    without fsync; header and end mark are still whole."""
    fill(gsat)
    want = gqstat(gsat)
    with open(cache_file(gsat), "r+b") as f:
        f.seek(8192)
        f.write(b"\0" * 4096)
    assert gqstat(gsat) == want
    assert gqstat(gsat) == want


def test_a_changed_byte_in_the_cache_is_read_from_the_store(gsat):
    """One byte of a record changed (a bad block): the job is neither
    shown as the cache says nor reported damaged."""
    fill(gsat)
    want = gqstat(gsat, "-f")
    path = cache_file(gsat, "long")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    at = text.index("00657" + US)
    at = text.index("finished", at)
    _write(path, text[:at] + "S" + text[at + 1:])
    assert gqstat(gsat, "-f") == want
    assert gqstat(gsat, "-f") == want


def test_a_crafted_line_in_the_cache_never_reaches_the_terminal_raw(gsat):
    """Even a record with a right key and checksum (the file is the user's
    own) prints no control character: a line that is not one printable
    ASCII line is made from the store."""
    from gsatellite import listcache

    fill(gsat)
    want = gqstat(gsat)
    key = listcache._key(os.stat(os.path.join(gsat.job_dir("00003"), "job.state")))

    def craft(line):
        with open(cache_file(gsat), encoding="utf-8") as f:
            text = f.read()
        record = listcache._record("00003", key, {"job.state": "finished", "/line": line})
        _write(cache_file(gsat), text[:-len(RS + "end\n")] + "00003" + US + record + RS + RS + "end\n")

    craft("finished     00003  crafted.example.org      job-00003.job           \n")
    assert "crafted.example.org" in line_of(gqstat(gsat), "00003")  # the record is the one used
    craft("running      00003  \x1b]0;pwned\x07\x1b[31mRED\n")
    out = gqstat(gsat)
    assert out == want and "\x1b" not in out
    # -f: a held record that makes the job look damaged is dropped, and
    # the job is read from the store (not reported damaged).
    want_f = gqstat(gsat, "-f")
    with open(cache_file(gsat, "long"), encoding="utf-8") as f:
        text = f.read()
    record = listcache._record("00003", key, {"job.state": "bogus\n", "job.execHost": "crafted.example.org\n"})
    _write(cache_file(gsat, "long"), text[:-len(RS + "end\n")] + "00003" + US + record + RS + RS + "end\n")
    assert gqstat(gsat, "-f") == want_f


def test_a_job_too_large_to_cache_is_read_each_time_and_the_file_stays_readable(gsat):
    """A record over listcache.RECORD_LIMIT (a job.events of 8,000
    lines) is not kept: the file stays small enough to be read back."""
    fill(gsat)
    events = os.path.join(gsat.job_dir("00010"), "job.events")
    _write(events, "1700000000 B x\n" * 8000)
    first = gqstat(gsat, "-f", "-x")
    assert 'job.events="8000"' in first
    assert cached_ids(gsat, "long") == {"%05d" % k for k in range(N)} - {"00010"}
    before = os.stat(cache_file(gsat, "long"))
    assert gqstat(gsat, "-f", "-x") == first
    after = os.stat(cache_file(gsat, "long"))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not written again


def test_a_writer_killed_while_it_wrote_leaves_no_file_for_good(gsat):
    fill(gsat)
    gqstat(gsat)
    d = os.path.dirname(cache_file(gsat))
    left = os.path.join(d, ".listing.table.AbCdEfGh")  # as fsutil.write_atomic names it
    young = os.path.join(d, ".listing.table.IjKlMnOp")
    others = [os.path.join(d, name) for name in (".listing.table.bak", ".listing.table.QrStUvWx2")]
    fifo = os.path.join(d, ".listing.table.FiFoFiFo")
    for path in [left, young] + others:
        _write(path, "half a cache")
    os.mkfifo(fifo)
    for path in [left, fifo] + others:
        os.utime(path, (HOUR_AGO, HOUR_AGO))
    rewrite_state(gsat, "00001", "finished")  # the next listing writes the cache
    gqstat(gsat)
    assert not os.path.exists(left)
    assert all(os.path.lexists(p) for p in [young, fifo] + others)


def test_a_cache_directory_that_is_a_link_is_not_written_through(gsat, tmp_path):
    fill(gsat)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.makedirs(os.path.join(gsat.g, "var"))
    os.symlink(str(elsewhere), os.path.join(gsat.g, "var", "cache"))
    out = gqstat(gsat)
    assert len(out.splitlines()) == 2 + N and gqstat(gsat) == out
    assert os.listdir(str(elsewhere)) == []


def test_a_cache_that_cannot_be_written_leaves_the_listing_whole(gsat):
    fill(gsat)
    os.makedirs(os.path.join(gsat.g, "var"))
    _write(os.path.join(gsat.g, "var", "cache"), "a file where the directory belongs\n")
    out = gqstat(gsat)
    assert len(out.splitlines()) == 2 + N
    assert gqstat(gsat, "-f").count('job.state="finished"') == N


def test_a_full_disk_costs_the_listing_only_time(gsat):
    from tests.fullfs import fill as fill_up, hidden_leftovers, mount_tmpfs, umount

    mount_tmpfs(gsat.home, "64m")
    try:
        fill(gsat)
        want = gqstat(gsat)
        os.unlink(cache_file(gsat))
        filler = fill_up(gsat.home)
        assert gqstat(gsat) == want
        assert gqstat(gsat, "-f").count('job.state="finished"') == N
        assert not os.path.exists(cache_file(gsat)) and not os.path.exists(cache_file(gsat, "long"))
        assert hidden_leftovers(os.path.join(gsat.g, "var")) == []
        os.unlink(filler)
        assert gqstat(gsat) == want and cached_ids(gsat) == {"%05d" % k for k in range(N)}
    finally:
        gsat.cleanup()
        umount(gsat.home)

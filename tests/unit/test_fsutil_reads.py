"""fsutil.read_bytes: the daemons' reader of small files gives the whole
file (or its first ``limit`` bytes) and, for the usual small file, makes
one read: a short read of a regular file is its end."""

import os

import pytest

from gsatellite import fsutil


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 10000, 1 << 20, (1 << 20) + 5])
def test_the_whole_file_or_its_first_limit_bytes(tmp_path, size):
    path = tmp_path / "f"
    data = os.urandom(size)
    path.write_bytes(data)
    assert fsutil.read_bytes(str(path)) == data[:1 << 20]
    assert fsutil.read_bytes(str(path), limit=100) == data[:100]


def test_a_small_file_is_one_read(tmp_path, monkeypatch):
    path = tmp_path / "job.state"
    path.write_text("running\n")
    reads = []
    real = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real(fd, n))
    assert fsutil.read_text(str(path)) == "running\n"
    assert len(reads) == 1


def test_a_file_grown_since_its_size_was_taken_is_read_whole(tmp_path, monkeypatch):
    path = tmp_path / "job.stop"
    path.write_text("1\n")
    real = os.fstat

    def fstat(fd):  # the file grows right after fstat saw its size
        st = real(fd)
        with open(path, "a") as f:
            f.write("2\n" * 5000)
        return st

    monkeypatch.setattr(os, "fstat", fstat)
    assert fsutil.read_text(str(path)) == "1\n" + "2\n" * 5000


def test_reads_shorter_than_asked_before_the_size_is_reached_go_on(tmp_path, monkeypatch):
    """A read gives at most 2 GiB (0x7ffff000 bytes) whatever it asks for:
    a short read before the size the fstat gave is not the end.  Shown
    with reads capped at 1000 bytes."""
    path = tmp_path / "big"
    data = os.urandom(10000)
    path.write_bytes(data)
    real = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: real(fd, min(n, 1000)))
    assert fsutil.read_bytes(str(path)) == data


def test_appending_to_a_fifo_fails_at_once_and_writes_nothing(tmp_path):
    """A FIFO planted as job.stop or a log: no reader -> ENXIO; with a
    reader, not a regular file; never a blocked writer, nothing written."""
    import errno

    fifo = str(tmp_path / "job.stop")
    os.mkfifo(fifo)
    with pytest.raises(OSError) as e:
        fsutil.append_line(fifo, "1700000000")
    assert e.value.errno == errno.ENXIO
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(OSError) as e:
            fsutil.append_line(fifo, "1700000000")
        assert e.value.errno == errno.EINVAL
        assert os.read(reader, 100) == b""  # nothing was written
    finally:
        os.close(reader)
    path = tmp_path / "job.start"
    fsutil.append_line(str(path), "1")
    fsutil.append_line(str(path), "2")
    assert path.read_text() == "1\n2\n" and oct(path.stat().st_mode & 0o777) == "0o600"


def test_appending_to_a_link_to_dev_null_is_allowed(tmp_path):
    """A log silenced the usual way, linked to /dev/null, is written to
    (as the classic `>>` did); a daemon must not refuse to start over it."""
    log = tmp_path / "gsatlc.log"
    os.symlink(os.devnull, log)
    fsutil.append_line(str(log), "started")
    os.close(fsutil.open_append(str(log)))

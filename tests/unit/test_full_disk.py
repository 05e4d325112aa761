"""Writes on a full file system fail cleanly: the error goes on, nothing
half-written stays behind (issue 11 item 5)."""

import errno
import os

import pytest

from gsatellite import fsutil
from gsatellite.transport import mbox
from tests.fullfs import fill, hidden_leftovers, small_tmpfs


@pytest.fixture
def full(tmp_path):
    with small_tmpfs(str(tmp_path / "fs"), "64k") as d:
        yield d


def test_write_atomic_on_a_full_disk_keeps_the_old_file_and_no_temp(full):
    path = os.path.join(full, "job.state")
    fsutil.write_atomic(path, "queued\n")
    fill(full)
    with pytest.raises(OSError) as e:
        fsutil.write_atomic(path, "x" * 8192)
    assert e.value.errno == errno.ENOSPC
    with open(path) as f:
        assert f.read() == "queued\n"
    assert hidden_leftovers(full) == []


def test_append_line_cut_short_by_a_full_disk_is_taken_back(full):
    path = os.path.join(full, "job.start")
    with open(path, "wb") as f:
        f.write(b"1\n" * 2045)  # 4090 bytes: the next write crosses a page
    fill(full)
    with pytest.raises(OSError) as e:
        fsutil.append_line(path, "y" * 100)
    assert e.value.errno == errno.ENOSPC
    with open(path, "rb") as f:
        assert f.read() == b"1\n" * 2045


def test_send_into_a_full_box_leaves_no_empty_message(full, monkeypatch):
    box = os.path.join(full, "4711.inbox")
    os.mkdir(box, 0o700)
    fill(full)
    with pytest.raises(OSError) as e:
        mbox.send(box, "QSUB /x/" + "y" * 5000 + ";")
    assert e.value.errno == errno.ENOSPC
    assert e.value.filename == box
    assert os.listdir(box) == []


def test_read_text_of_a_fifo_does_not_block(tmp_path):
    fifo = str(tmp_path / "job.state")
    os.mkfifo(fifo)
    assert fsutil.read_text(fifo, "absent") == "absent"
    os.unlink(fifo)
    os.mkdir(fifo)
    assert fsutil.read_text(fifo, "absent") == "absent"

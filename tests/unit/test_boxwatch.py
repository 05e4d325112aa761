"""The forwarder's box watch: which file systems count as local, and a
real inotify watch raising SIGIO for an entry made in the directory."""

import os
import signal

import pytest

from gsatellite.transport import boxwatch

MOUNTINFO = "\n".join([
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
    "30 22 0:40 / /home rw shared:2 master:1 - nfs4 srv:/home rw,vers=4.2",
    "31 30 0:41 / /home/u/my\\040dir rw - tmpfs tmpfs rw",
    "32 22 0:42 / /scratch rw - xfs /dev/sdb1 rw",
    "33 22 0:43 / /scratch rw - lustre 10.0.0.1@tcp:/fs rw",
    "garbage line",
])


@pytest.mark.parametrize("path, fstype", [
    ("/etc/passwd", "ext4"),
    ("/home/u/.gsatellite/mboxes", "nfs4"),
    ("/home/u/my dir/x", "tmpfs"),
    ("/home/u/my dirt", "nfs4"),  # a prefix of the name is not the mount point
    ("/scratch/a", "lustre"),  # mounted over /scratch later: it hides the xfs
    ("/", "ext4"),
])
def test_the_file_system_of_a_path_is_its_longest_mount_point(path, fstype, monkeypatch):
    monkeypatch.setattr(os.path, "realpath", lambda p: p)
    assert boxwatch.filesystem(path, MOUNTINFO) == fstype


def test_network_file_systems_are_not_watched(tmp_path, monkeypatch):
    monkeypatch.setattr(boxwatch, "filesystem", lambda path: "nfs4")
    assert boxwatch.watch(str(tmp_path)) is None


def test_an_entry_made_in_the_box_raises_sigio(tmp_path):
    if boxwatch.filesystem(str(tmp_path)) not in boxwatch.LOCAL:
        pytest.skip("tmp_path is on %s" % boxwatch.filesystem(str(tmp_path)))
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGIO})
    fd = boxwatch.watch(str(tmp_path))
    try:
        assert fd is not None
        assert signal.sigtimedwait({signal.SIGIO}, 0) is None
        (tmp_path / ".message.x").write_text("ALIVE?;box\n")  # hidden while written
        os.rename(tmp_path / ".message.x", tmp_path / "message.x")
        assert signal.sigtimedwait({signal.SIGIO}, 5) is not None
        assert boxwatch.drain(fd) is True
        assert boxwatch.drain(fd) is False
    finally:
        if fd is not None:
            os.close(fd)
        while signal.sigtimedwait({signal.SIGIO}, 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, old)

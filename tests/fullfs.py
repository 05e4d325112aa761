"""A small tmpfs to fill up: how the tests make a disk full (we run as root
in CI; without the right to mount, the tests that need it are skipped with
the reason)."""

import contextlib
import errno
import os
import subprocess

import pytest


def mount_tmpfs(path, size="2m"):
    """Mount a tmpfs of ``size`` on ``path`` (created), or skip the test."""
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % p.stderr.strip())


def umount(path):
    # Lazy: a daemon the test's cleanup has not reaped yet may still have
    # its cwd or a file open there.
    subprocess.run(["umount", "-l", path], capture_output=True)


@contextlib.contextmanager
def small_tmpfs(path, size="2m"):
    mount_tmpfs(path, size)
    try:
        yield path
    finally:
        umount(path)


def fill(directory, name="filler"):
    """Take every free block of the file system of ``directory``; returns
    the filler's path (remove it to free the space again)."""
    path = os.path.join(directory, name)
    chunk = b"\0" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            try:
                if os.write(fd, chunk) < len(chunk):
                    continue
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
        # The last partial page: fill it byte by byte.
        while True:
            try:
                if os.write(fd, b"\0") == 0:
                    break
            except OSError:
                break
    finally:
        os.close(fd)
    return path


def hidden_leftovers(root):
    """Temporary files left under ``root``: hidden names fsutil and the
    transport write before a rename (``.NAME.XXXXXXXX``, ``.message.*``)."""
    found = []
    for d, dirs, files in os.walk(root):
        for name in files + dirs:
            if name.startswith(".message.") or (name.startswith(".") and name.count(".") >= 2
                                                and not name.startswith(".removed.")):
                found.append(os.path.join(d, name))
    return found

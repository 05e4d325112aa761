"""The transports the contract suite runs against.

A transport factory knows how to open an inbox of its kind and how to plant
the bad entries its medium allows (a file box can hold a FIFO named like a
message; a System V queue cannot).  Add the System V transport's factory to
``TRANSPORTS`` and the whole suite runs against it.
"""

import os
import socket
import stat

import pytest

from gsatellite import config, paths, transport
from gsatellite.transport import mbox, sysv


def use_temp_home(monkeypatch, home, host):
    """A clean gsatellite environment: ``$HOME`` is ``home``, the host name
    ``host``, no ``GSAT_`` setting from outside; undo with :func:`forget`."""
    for key in list(os.environ):
        if key.startswith("GSAT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GSAT_HOSTNAME", host)
    forget()


def forget():
    paths.reset()
    config.reset()


def remove_queues(g):
    """Remove the System V queues registered under ``g`` (a temporary
    ``$HOME/.gsatellite``): a test's $HOME goes away with no daemon left to
    sweep them, and queues outlive their $HOME."""
    try:
        import sysv_ipc
    except ImportError:
        return
    from gsatellite.transport import sysvkeys

    for key in sysvkeys.registered_keys(os.path.join(g, "var", "run")):
        try:
            queue = sysv_ipc.MessageQueue(key)
            if queue.cuid == os.geteuid():
                queue.remove()
        except (sysv_ipc.Error, OSError):
            pass


class FileBoxes:
    kind = transport.base.MBOX

    def open_inbox(self, pid=None, tag="c", limit=None, log=None):
        return transport.open_inbox(pid, tag=tag, limit=limit, log=log, kind=self.kind)

    def reader(self, address, limit=None, log=None):
        """A second receiver on an existing inbox (another process's)."""
        return mbox.Inbox(address, limit, log)

    def leftovers(self, inbox):
        """What a receiver would still look at."""
        return [n for n in os.listdir(inbox.address) if n.startswith(mbox.MESSAGE_PREFIX)]

    # -- bad entries: each plants one under a message name -------------------------
    def _raw(self, inbox, data):
        path = os.path.join(inbox.address, "message.bad" + os.urandom(3).hex())
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.rename(path + ".tmp", path)

    BAD_ENTRIES = ("empty", "binary", "two_lines", "oversized", "fifo", "socket", "device",
                   "directory", "full_directory", "symlink_to_fifo", "symlink_to_message")

    def plant(self, name, inbox, outside, limit):
        """Put the bad entry ``name`` into ``inbox``; ``outside`` is a
        directory of the test's own, outside every inbox."""
        return getattr(self, "_" + name)(inbox, outside, limit)

    def _empty(self, inbox, outside, limit):
        self._raw(inbox, b"")

    def _binary(self, inbox, outside, limit):
        self._raw(inbox, b"ALIVE?\0\xff;\n")

    def _two_lines(self, inbox, outside, limit):
        self._raw(inbox, b"ALIVE?;\nPID?;\n")

    def _oversized(self, inbox, outside, limit):
        self._raw(inbox, b"x" * (limit + 1))

    def _fifo(self, inbox, outside, limit):
        os.mkfifo(os.path.join(inbox.address, "message.fifo"), 0o600)

    def _socket(self, inbox, outside, limit):
        # A relative name: socket paths are limited to ~108 bytes.
        cwd = os.getcwd()
        os.chdir(inbox.address)
        try:
            s = socket.socket(socket.AF_UNIX)
            s.bind("message.sock")
            s.close()
        finally:
            os.chdir(cwd)

    def _device(self, inbox, outside, limit):
        try:
            os.mknod(os.path.join(inbox.address, "message.dev"), stat.S_IFCHR | 0o600, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("mknod is not permitted here")

    def _directory(self, inbox, outside, limit):
        os.mkdir(os.path.join(inbox.address, "message.dir"))

    def _full_directory(self, inbox, outside, limit):
        d = os.path.join(inbox.address, "message.full")
        os.mkdir(d)
        with open(os.path.join(d, "inside"), "w") as f:
            f.write("ALIVE?;\n")

    def _symlink_to_fifo(self, inbox, outside, limit):
        # Following this link with a blocking open would hang for ever.
        target = os.path.join(outside, "fifo")
        os.mkfifo(target, 0o600)
        os.symlink(target, os.path.join(inbox.address, "message.lnkfifo"))

    def _symlink_to_message(self, inbox, outside, limit):
        # A link to a perfectly good message is still not a message.
        target = os.path.join(outside, "looks-fine")
        with open(target, "w") as f:
            f.write("ALIVE?;\n")
        os.symlink(target, os.path.join(inbox.address, "message.lnkfile"))


class SysvQueues:
    """System V queues (each with its box, where oversized messages and
    classic clients go).  Bad entries are planted with a raw ``msgsnd``:
    a queue holds byte strings only, so there is nothing to follow."""

    kind = transport.base.SYSV

    def open_inbox(self, pid=None, tag="c", limit=None, log=None):
        return transport.open_inbox(pid, tag=tag, limit=limit, log=log, kind=self.kind)

    def reader(self, address, limit=None, log=None):
        return sysv.Inbox.attach(address, limit, log)

    def leftovers(self, inbox):
        return inbox.queue.current_messages * ["queued"] + FileBoxes().leftovers(inbox.box)

    BAD_ENTRIES = ("empty", "binary", "two_lines", "oversized", "not_utf8_nul", "box_fifo")

    def plant(self, name, inbox, outside, limit):
        if name == "box_fifo":  # the box part is as exposed as any box
            return FileBoxes().plant("fifo", inbox.box, outside, limit)
        data = {"empty": b"", "binary": b"ALIVE?\0\xff;", "two_lines": b"ALIVE?;\nPID?;",
                "oversized": b"x" * (limit + 1), "not_utf8_nul": b"\xff\xfe\0;"}[name]
        inbox.queue.send(data, block=False, type=7)


TRANSPORTS = [FileBoxes, SysvQueues]

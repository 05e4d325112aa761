"""The controller's receive loop, driven in-process through once().

Regression: the loop only refreshed gsatlcPid (the liveness rule) once its box
was empty, so an endless stream of messages let the file age past 5 s and
clients took the controller for dead.
"""

import os
import time

import pytest

from gsatellite import config, paths
from gsatellite import controller as ctl
from gsatellite.transport import mbox


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GSAT_HOSTNAME", "testhost")
    monkeypatch.setenv("GSAT_LIVENESS_INTERVAL", "0.2")
    monkeypatch.setenv("GSAT_TRANSPORT", "file")  # the stream goes into the box
    paths.reset()
    config.reset()
    ctl.JobStore().ensure()
    yield tmp_path
    paths.reset()
    config.reset()


class Fed(ctl.Controller):
    """Every message handled puts a new one into the box, for ``seconds``."""

    def __init__(self, seconds):
        super().__init__()
        self.until = time.monotonic() + seconds
        self.refreshes = []

    def refresh(self):
        self.refreshes.append(time.monotonic())
        return super().refresh()

    def dispatch(self, message):
        if time.monotonic() < self.until:
            mbox.send(self.box, "ALIVE?;")
        super().dispatch(message)


def test_liveness_refreshed_while_the_box_never_runs_empty(home):
    c = Fed(seconds=1.5)
    try:
        c.publish()
        mbox.send(c.box, "ALIVE?;")
        start = time.monotonic()
        c.once(timeout=0)
        assert time.monotonic() - start >= 1.4  # one pass really saw a 1.5 s stream
        times = [start] + c.refreshes
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert len(c.refreshes) >= 5
        assert max(gaps) < 0.5, gaps
        assert time.time() - os.stat(paths.gsatlc_pid_file()).st_ctime < 0.5
    finally:
        mbox.remove_box(c.box)
        c.sleeper.release()


def test_messages_read_from_a_sputniks_socket_by_a_pass_are_taken_before_the_loop_sleeps(make_controller):
    # The pass that read a sputnik's READY (or let it go) found a message
    # after it on the socket: the loop looks into its inboxes again at once
    # (no SIGCONT will come for it: its own was taken by this wake-up).
    c = make_controller()
    c.system.unread = ["HELD 00001;b"]
    c._signalled = False
    c.tick()
    assert c._signalled
    c.system.unread = []
    c._signalled = False
    c.tick()
    assert not c._signalled

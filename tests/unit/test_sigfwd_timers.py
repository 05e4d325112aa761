"""The forwarder's own timers, in process: how often it beats the host's
heartbeat, and how often it looks into a box the kernel watches."""

import os

import pytest

from gsatellite import paths, sigfwd
from gsatellite.fsutil import write_atomic
from gsatellite.transport import boxwatch


@pytest.fixture
def forwarder(home):
    f = sigfwd.SignalForwarder()
    yield f
    f.shutdown()
    f.sleeper.release()


def _next_beat(f):
    """Seconds from now to the forwarder's next beat."""
    due = [when for when, _, fn in f.timers if fn is not None and getattr(fn, "__func__", None) is sigfwd.SignalForwarder.beat]
    assert len(due) == 1, f.timers
    return due[0] - f.clock()


def test_it_beats_less_often_while_a_controller_of_this_host_beats_too(forwarder):
    interval = forwarder.interval
    assert _next_beat(forwarder) == pytest.approx(interval, abs=0.5)
    forwarder.timers.clear()
    forwarder.beat()  # no controller
    assert _next_beat(forwarder) == pytest.approx(interval, abs=0.5)
    write_atomic(paths.gsatlc_host_file(), forwarder.host + "\n")
    write_atomic(paths.gsatlc_pid_file(), "%d\n" % os.getpid())
    forwarder.timers.clear()
    forwarder.beat()
    assert _next_beat(forwarder) == pytest.approx(sigfwd.SHARED_BEATS * interval, abs=0.5)
    # Where hosts are taken for lost soon, the heartbeat may not lag.
    forwarder.lost_after = 9 * interval
    forwarder.timers.clear()
    forwarder.beat()
    assert _next_beat(forwarder) == pytest.approx(interval, abs=0.5)
    forwarder.lost_after = 120
    # A controller of another host beats another heartbeat.
    write_atomic(paths.gsatlc_host_file(), "elsewhere\n")
    forwarder.timers.clear()
    forwarder.beat()
    assert _next_beat(forwarder) == pytest.approx(interval, abs=0.5)


def test_a_watched_box_is_looked_into_as_a_safety_net_only(forwarder, home):
    if boxwatch.filesystem(str(home)) in boxwatch.LOCAL:
        assert forwarder.watch is not None and forwarder.poll == sigfwd.WATCHED_POLL
    else:
        assert forwarder.watch is None and forwarder.poll == 0.5

"""The controller starts a dead forwarder again, but not in a loop
(controller/system.py ``heal_forwarder``, issue 17 item 2)."""

from gsatellite import sigfwd
from gsatellite.controller import system


def test_a_forwarder_that_keeps_dying_is_started_once_per_heal_seconds(monkeypatch):
    starts = []

    def ensure_running(wait=True):
        starts.append(wait)
        return None  # started one (it dies again)

    monkeypatch.setattr(sigfwd, "ensure_running", ensure_running)
    s = system.System()
    for t in (0.0, 2.0, 4.0, 9.9):
        s.heal_forwarder(now=t)
    assert starts == [False]
    s.heal_forwarder(now=10.5)
    assert starts == [False, False]


def test_a_running_forwarder_is_only_looked_at(monkeypatch):
    starts = []
    monkeypatch.setattr(sigfwd, "ensure_running", lambda wait=True: starts.append(wait) or 4711)
    s = system.System()
    for t in (0.0, 2.0, 4.0):
        s.heal_forwarder(now=t)
    assert starts == [False] * 3 and s.healed_at is None

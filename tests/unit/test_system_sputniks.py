"""The controller's OS seam handing jobs to sputniks that wait on a socket
(lib/gsatellite/controller/system.py): which sputnik takes a job, and what
is kept.  Real socket pairs; no process is started (launches are recorded,
the sputnik's end is the test's)."""

import os
import select
import socket

import pytest

from gsatellite import sputnik
from gsatellite.controller import system as system_module
from gsatellite.controller.system import System


def _pair():
    """(controller's end, sputnik's end) as raw descriptors."""
    a, b = socket.socketpair()
    theirs = b.detach()
    os.set_blocking(theirs, False)
    return a.detach(), theirs


@pytest.fixture
def system(monkeypatch):
    s = System()
    s.launched = []
    s.fresh = []  # the sputnik ends of spares made

    def launch(job_path, job_id, adopt=False, for_controller=False):
        assert for_controller  # the controller's sputniks leave a job if it dies first
        s.launched.append((job_path, job_id, adopt))
        return 9000 + len(s.launched)

    def launch_spare():
        ours, theirs = _pair()
        s.fresh.append(theirs)
        return 8000 + len(s.fresh), ours

    monkeypatch.setattr(sputnik, "launch", launch)
    monkeypatch.setattr(sputnik, "launch_spare", launch_spare)
    yield s
    for fd in [held.fd for held in s.held.values() if held.fd is not None] + s.fresh:
        os.close(fd)


def _let_go(theirs):
    """Has the controller closed its end?  (End-of-file, or a reset when
    it closed with our READY unread: the sputnik takes both as the end.)"""
    try:
        return os.read(theirs, 100) == b""
    except ConnectionResetError:
        return True


def _ended(system, pid, ready=True):
    """A sputnik ``pid`` whose job has ended (it said READY, or not yet):
    its end of the socket."""
    ours, theirs = _pair()
    system.held[pid] = system_module.Held(ours, system_module.BUSY)
    if ready:
        os.write(theirs, sputnik.READY)
    system.retire(pid)
    return theirs


def test_a_sputnik_that_ended_its_job_takes_the_next_and_keeps_its_socket(system):
    theirs = _ended(system, 111)
    assert system.waiting() == [111] and system.state(111) == "ended"
    assert system.launch_sputnik("/j/a.job", "00002") == 111
    assert os.read(theirs, 100) == b"00002 /j/a.job\0"
    assert system.state(111) == "busy" and not system.waiting()
    assert system.launched == [] and system.fresh == []
    # Its next job again only after its next READY.
    system.retire(111)
    assert system.launch_sputnik("/j/b.job", "00003") == 8001
    assert _let_go(theirs)
    os.close(theirs)


def test_a_sputnik_still_busy_after_its_jobs_end_gets_no_job(system):
    """A trigger --wait still running, an end not yet on disk: no READY,
    so the job goes to a new sputnik and the busy one is let go."""
    theirs = _ended(system, 111, ready=False)
    assert system.launch_sputnik("/j/a.job", "00002") == 8001
    assert os.read(system.fresh[0], 100) == b"00002 /j/a.job\0"
    assert _let_go(theirs)  # nothing written
    assert not system.waiting() and system.state(111) == "let go"
    os.close(theirs)


def test_a_job_path_too_long_for_the_socket_leaves_the_waiting_sputniks_alone(system):
    theirs = _ended(system, 111)
    long_path = "/" + "x" * select.PIPE_BUF
    assert not sputnik.fits(long_path, "00003")
    assert system.launch_sputnik(long_path, "00003") == 9001
    assert system.launched == [(long_path, "00003", False)]
    with pytest.raises(BlockingIOError):
        os.read(theirs, 100)
    assert system.waiting() == [111]
    assert system.launch_sputnik("/j/b.job", "00004") == 111
    os.close(theirs)


def test_the_waiting_ones_nobody_needs_are_let_go(system):
    first, second = _ended(system, 111), _ended(system, 112)
    system.keep_spare(True)  # one stays, as the spare
    assert system.spare in (111, 112) and not system.waiting()
    kept, gone = (first, second) if system.spare == 111 else (second, first)
    assert _let_go(gone)
    with pytest.raises(BlockingIOError):
        os.read(kept, 100)
    system.keep_spare(False)
    assert system.spare is None and {system.state(111), system.state(112)} == {"let go"}
    assert _let_go(kept)
    os.close(first)
    os.close(second)

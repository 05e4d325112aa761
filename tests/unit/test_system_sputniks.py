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


# -- what the sputniks write on their sockets ---------------------------------------

def _busy(system, pid):
    ours, theirs = _pair()
    system.held[pid] = system_module.Held(ours, system_module.BUSY)
    return theirs


def test_messages_come_whole_and_in_order_however_the_bytes_are_cut(system):
    theirs = _busy(system, 111)
    data = (sputnik.frame("STARTED 00001;/box/111.inbox") + sputnik.READY
            + sputnik.frame("TERMINATED 00001 0;/box/111.inbox"))
    got = []
    for i in range(0, len(data), 7):  # a few bytes at a time
        os.write(theirs, data[i:i + 7])
        got += system.spare_messages()
    assert got == ["STARTED 00001;/box/111.inbox", "TERMINATED 00001 0;/box/111.inbox"]
    assert system.held[111].ready and system.state(111) == "busy"
    assert system.spare_messages() == []  # nothing waits: no read blocks
    os.close(theirs)


@pytest.mark.parametrize("garbage", [b"X", b"M" + b"x" * (select.PIPE_BUF + 10)], ids=["unknown byte", "too long"])
def test_bytes_no_sputnik_writes_close_its_socket_after_what_came_whole(system, garbage):
    theirs = _busy(system, 111)
    os.write(theirs, sputnik.frame("STARTED 00001;b") + garbage)
    assert system.spare_messages() == ["STARTED 00001;b"]
    assert _let_go(theirs)
    # Still its job's supervisor: what it says next goes through the
    # transport, and its end is judged when it is reaped.
    assert system.state(111) == "busy" and system.held[111].fd is None
    assert system.spare_messages() == []
    os.close(theirs)


def test_an_end_of_file_closes_the_socket_and_lets_a_waiting_sputnik_go(system):
    theirs = _busy(system, 111)
    os.close(theirs)
    assert system.spare_messages() == []
    assert system.state(111) == "busy" and system.held[111].fd is None
    # Told its end through the transport, it waits for nothing: let go,
    # and never handed a job.
    system.retire(111)
    assert system.launch_sputnik("/j/a.job", "00002") == 8001
    assert system.state(111) == "let go"
    # One that ended its job and whose socket then ended: let go at once.
    os.close(_ended(system, 112, ready=False))
    assert system.launch_sputnik("/j/b.job", "00003") == 8002
    assert system.state(112) == "let go"


def test_what_a_sputnik_wrote_before_it_exited_is_read_before_its_socket_is_closed(system, monkeypatch):
    from gsatellite import proc

    theirs = _busy(system, 111)
    os.write(theirs, sputnik.frame("TERMINATED 00001 0;b"))
    os.close(theirs)
    exited = [(111, 0)]
    monkeypatch.setattr(proc, "peek_ended_child", lambda: exited[0] if exited else None)
    monkeypatch.setattr(proc, "reap_child", lambda pid: exited.pop(0))
    ended = []
    system.reap(lambda pid, value: ended.append((pid, value)))
    assert ended == [(111, 0)]  # a busy one: its end is the controller's to judge
    assert 111 not in system.held
    assert system.spare_messages() == ["TERMINATED 00001 0;b"]


def test_a_message_read_with_the_ready_before_a_job_is_handed_over_is_kept(system):
    theirs = _ended(system, 111, ready=False)
    os.write(theirs, sputnik.READY + sputnik.frame("HELD 00001;b"))
    assert system.launch_sputnik("/j/a.job", "00002") == 111
    assert system.unread == ["HELD 00001;b"]
    assert system.spare_messages() == ["HELD 00001;b"] and system.unread == []
    os.close(theirs)


def test_a_frame_is_one_write_without_nul_inside():
    assert sputnik.frame("TERMINATED 00001 0;b") == b"MTERMINATED 00001 0;b\0"
    with pytest.raises(ValueError):
        sputnik.frame("x" * select.PIPE_BUF)
    with pytest.raises(ValueError):
        sputnik.frame("a\0b")


def test_a_supervisor_whose_socket_ended_before_its_death_was_seen_is_still_judged(system):
    # A real child that exits without a word: the loop reads its socket's
    # end-of-file before it takes the SIGCHLD.  The job's supervisor is
    # gone all the same: reap() must hand its end to the controller.
    ours, theirs = socket.socketpair()
    fd, child_end = ours.detach(), theirs.detach()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(fd)
        os._exit(9)
    os.close(child_end)
    system.held[pid] = system_module.Held(fd, system_module.BUSY)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # it has exited, unreaped
    assert system.spare_messages() == []
    assert system.state(pid) == "busy"  # its socket closed, still the job's supervisor
    ended = []
    system.reap(lambda p, value: ended.append((p, value)))
    assert ended == [(pid, 9)]
    assert pid not in system.held


def test_no_socket_to_be_had_the_job_gets_a_sputnik_that_knows_it_from_the_start(system, monkeypatch):
    # EMFILE: one socket is kept per running job; the job still starts.
    import errno

    def no_socket():
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(sputnik, "launch_spare", no_socket)
    assert system.launch_sputnik("/j/a.job", "00001") == 9001
    assert system.launched == [("/j/a.job", "00001", False)]
    assert system.held == {}


def test_a_failure_reading_the_sockets_never_ends_the_loop(system, monkeypatch, capsys):
    def broken():
        raise RuntimeError("a bug")

    monkeypatch.setattr(system, "spare_messages", broken)
    assert system_module.SpareSockets(system).receive() is None
    assert "reading the sputniks' sockets failed" in capsys.readouterr().out

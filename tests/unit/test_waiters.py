"""gqwait registrations and how waiters are told (lib/gsatellite/waiters.py)."""

import os

from gsatellite import paths, waiters
from gsatellite.transport import mbox

from .conftest import new_job, requests_in


def job(home):
    return new_job(home)[1]


def test_registrations_are_kept_once_each_and_removed(home):
    job_id = job(home)
    waiters.add(job_id, "h1", "/tmp/a")
    waiters.add(job_id, "h1", "/tmp/a")
    waiters.add(job_id, "h2", "/tmp/b")
    assert waiters.registrations(job_id) == [("h1", "/tmp/a"), ("h2", "/tmp/b")]
    waiters.remove(job_id, "h1", "/tmp/a")
    assert waiters.registrations(job_id) == [("h2", "/tmp/b")]
    waiters.remove(job_id, "h2", "/tmp/b")
    assert not os.path.exists(paths.job_file(job_id, waiters.WAITERS))


def test_valid_fifo_path():
    assert waiters.valid_fifo_path("/tmp/gqwait.1")
    for bad in ("relative", "/a b", "/a;b", "/a\nb", ""):
        assert not waiters.valid_fifo_path(bad), bad


def test_notify_writes_local_fifos_and_asks_remote_forwarders(home):
    job_id = job(home)
    fifo = os.path.join(str(home), "w.fifo")
    os.mkfifo(fifo)
    gone = os.path.join(str(home), "nobody-reads.fifo")
    os.mkfifo(gone)
    forwarder = mbox.create_box(os.path.basename(mbox.sigfwd_box("h2")), "h2")
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        waiters.add(job_id, "testhost", fifo)
        waiters.add(job_id, "testhost", gone)  # no reader: skipped, never blocks
        waiters.add(job_id, "h2", "/tmp/remote.fifo")
        waiters.notify(job_id, 7, "testhost")
        assert os.read(reader, 100) == ("%s 7\n" % job_id).encode()
    finally:
        os.close(reader)
    assert requests_in(forwarder) == [("WRITE_FIFO /tmp/remote.fifo %s 7" % job_id, "")]
    assert waiters.registrations(job_id) == []


def test_notify_refuses_what_is_not_a_fifo(home, capsys):
    job_id = job(home)
    plain = os.path.join(str(home), "plain")
    with open(plain, "w"):
        pass
    waiters.add(job_id, "testhost", plain)
    waiters.notify(job_id, 0, "testhost")
    with open(plain) as f:
        assert f.read() == ""
    assert "not a FIFO" in capsys.readouterr().out

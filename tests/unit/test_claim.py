"""The controller's claim on the installation (controller/claim.py, issue 17)."""

import os
import subprocess

import pytest

from gsatellite import paths, pidref
from gsatellite.controller import claim


def _write(n, text, age=0):
    os.makedirs(paths.base(), exist_ok=True)
    with open(claim.path(n), "w") as f:
        f.write(text)
    if age:
        t = os.stat(claim.path(n)).st_mtime - age
        os.utime(claim.path(n), (t, t))


def test_the_first_claim_and_a_live_one(home):
    held = claim.take("testhost")
    assert held.n == 1 and claim.numbers() == [1]
    host, pid, ticks, boot, _ = claim.read(1)
    assert (host, pid, ticks, boot) == ("testhost", os.getpid(), pidref.start_time(os.getpid()), pidref.boot_id())
    with pytest.raises(claim.Taken) as e:
        claim.take("testhost")  # we are alive
    assert str(e.value) == "gsatlc is running on testhost as PID %d" % os.getpid()
    with pytest.raises(claim.Taken):
        claim.take("otherhost")  # young on another host
    assert held.held()
    held.release()
    assert claim.numbers() == []


def test_a_claim_numbered_past_18_digits_is_seen_by_every_taker(home):
    """Claims of 19 digits and more were not counted: after a planted stale
    claim 999999999999999999 the winner's claim 10**18 was invisible, and a
    second host took claim 1 while it served."""
    _write(10 ** 18 - 1, "garbage\n")
    held = claim.take("hostA")
    assert held.n == 10 ** 18 and claim.numbers() == [10 ** 18]
    with pytest.raises(claim.Taken):
        claim.take("hostB")
    assert held.held()
    # Past what a file name holds: one clear error, no claim taken.
    held.release()
    _write(int("9" * 242), "garbage\n")
    with pytest.raises(OSError):
        claim.take("hostB")


def test_a_stale_claim_of_another_host_is_taken_over_and_its_owner_sees_it(home):
    _write(4, "hostA 77 123 %s\n" % pidref.boot_id(), age=claim.MAX_AGE + 1)
    lost = claim.Claim(4)
    held = claim.take("hostB")
    assert held.n == 5 and claim.numbers() == [5]
    assert not lost.held()  # the old owner, should it come back, stops serving
    assert held.held()
    _write(6, "hostC 1 1 x\n")  # a successor
    assert not held.held()


def test_a_claim_of_a_dead_local_process_or_another_boot_is_stale(home):
    p = subprocess.Popen(["true"])
    ticks = pidref.start_time(p.pid) or 1
    p.wait()
    _write(1, "testhost %d %d %s\n" % (p.pid, ticks, pidref.boot_id()))
    assert claim.stale(claim.read(1), "testhost")
    me = pidref.start_time(os.getpid())
    _write(1, "testhost %d %d %s\n" % (os.getpid(), me, pidref.boot_id()))
    assert not claim.stale(claim.read(1), "testhost")
    _write(1, "testhost %d %d other-boot\n" % (os.getpid(), me))
    assert claim.stale(claim.read(1), "testhost")
    _write(1, "garbage\n")
    assert claim.stale(claim.read(1), "testhost")


def test_of_two_takers_of_one_number_only_one_wins(home, monkeypatch):
    _write(1, "hostA 77 123 x\n", age=claim.MAX_AGE + 1)
    real = claim.numbers
    calls = []

    def racing():
        found = real()
        if not calls:
            # Another host links claim 2 between our look and our link.
            _write(2, "hostC %d %d %s\n" % (os.getpid(), pidref.start_time(os.getpid()), "x"))
        calls.append(found)
        return found

    monkeypatch.setattr(claim, "numbers", racing)
    with pytest.raises(claim.Taken) as e:
        claim.take("hostB")
    assert e.value.host == "hostC"
    assert real() == [1, 2]

"""Proxy expiry: reading a proxy's end of validity (real certificates, and
files that are none), the timing rule, and the controller's warnings,
automatic holds and releases driven by the fake clocks of the unit
conftest (no process, no sleep)."""

import os
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from proxy_kit import proxy_pem, write_proxy  # noqa: E402

from gsatellite import events, paths, proxy, states  # noqa: E402
from gsatellite import protocol as P  # noqa: E402

from .conftest import Clock  # noqa: E402
from .test_controller_handlers import ask, recorder, submit  # noqa: E402


# -- reading the file -------------------------------------------------------------------

def test_the_end_of_the_first_certificate_is_read(tmp_path):
    path = write_proxy(str(tmp_path / "x509up"), 1700000123)
    assert proxy.not_after(path) == 1700000123


@pytest.mark.parametrize("content, why", [
    (b"", "no PEM certificate"),
    (b"garbage\n" * 10, "no PEM certificate"),
    (b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", "not a certificate"),
    (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a certificate"),
    (b"-----BEGIN CERTIFICATE-----\n", "no PEM certificate"),
])
def test_a_file_that_is_no_proxy_is_a_proxy_error(tmp_path, content, why):
    path = tmp_path / "x509up"
    path.write_bytes(content)
    with pytest.raises(proxy.ProxyError, match=why):
        proxy.not_after(str(path))


def test_missing_huge_directory_and_fifo_are_refused_without_blocking(tmp_path):
    with pytest.raises(proxy.ProxyError):
        proxy.not_after(str(tmp_path / "missing"))
    huge = tmp_path / "huge"
    huge.write_bytes(proxy_pem(1700000000) + b"x" * proxy.MAX_BYTES)
    with pytest.raises(proxy.ProxyError, match="larger than"):
        proxy.not_after(str(huge))
    with pytest.raises(proxy.ProxyError, match="not a regular file"):
        proxy.not_after(str(tmp_path))
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    outcome = []
    # No writer ever opens the FIFO: a blocking open would hang this thread.
    t = threading.Thread(target=lambda: outcome.append(pytest.raises(proxy.ProxyError, proxy.not_after, fifo)))
    t.daemon = True
    t.start()
    t.join(10)
    assert outcome and "not a regular file" in str(outcome[0].value)


def test_file_of_prefers_the_job_type_and_wants_an_absolute_path(home):
    assert proxy.file_of("gtransfer", {}) == paths.proxy_credential()
    assert proxy.file_of("tgftp", {"X509_USER_PROXY": "/x"}) == paths.proxy_credential()
    assert proxy.file_of("default", {"X509_USER_PROXY": "/tmp/x509up_u1"}) == "/tmp/x509up_u1"
    assert proxy.file_of("default", {"X509_USER_PROXY": "relative"}) is None
    assert proxy.file_of("default", {}) is None


# -- the timing rule ------------------------------------------------------------------------

def test_the_rule_wakes_at_the_warning_then_at_the_end_then_never():
    clock = Clock(1000.0)
    end, warning = 1100.0, 30.0
    look = lambda warned=False, held=False: proxy.next_look(end, clock(), warning, warned, held, 7.0)  # noqa: E731
    assert look() == 70.0
    clock.advance(70)
    assert proxy.warning_due(end, clock(), warning)
    assert look(warned=True) == 30.0  # the end: to see a renewal
    clock.advance(30)
    assert look(warned=True) is None  # ended, nobody held: nothing can happen
    assert look(warned=True, held=True) == 7.0  # held jobs: read it again now and then


def test_the_rule_before_the_warning_and_with_unknown_validity():
    assert not proxy.warning_due(1100.0, 1069.0, 30.0)
    assert not proxy.warning_due(None, 1069.0, 30.0)
    assert proxy.next_look(None, 1000.0, 30.0, False, False, 7.0) is None
    assert proxy.next_look(None, 1000.0, 30.0, False, True, 7.0) == 7.0
    # A warning time passed (the controller was down): due now, never a negative wait.
    assert proxy.next_look(1100.0, 1090.0, 30.0, False, False, 7.0) == 10.0
    assert proxy.next_look(1100.0, 1099.99, 30.0, True, False, 7.0) == proxy.MIN_DELAY


def test_too_short_is_the_margin_around_the_start():
    assert proxy.too_short(1100.0, 1000.0, 100.0)
    assert not proxy.too_short(1100.0, 1000.0, 99.0)
    assert proxy.too_short(900.0, 1000.0, 0.0)
    assert not proxy.too_short(None, 1000.0, 1e9)


def test_service_environment():
    env = proxy.service_environment("/p", 1700000000, 1699999990.4)
    assert env == {"GSAT_PROXY_FILE": "/p", "GSAT_PROXY_NOT_AFTER": "2023-11-14T22:13:20Z",
                   "GSAT_PROXY_SECONDS_LEFT": "9"}


# -- the controller, on fake clocks -----------------------------------------------------------

GTRANSFER = "#!/bin/bash\n#GSAT -T gtransfer\nexit 0\n"


def advance(c, seconds):
    """Move both fake clocks and run the timers that are due."""
    c.fake_clock.advance(seconds)
    c.fake_now.advance(seconds)
    c.run_timers()


@pytest.fixture
def proxied(make_controller, home):
    """A controller (proxy_warning 30 s, margin 10 s, recheck 5 s) whose one
    slot is taken, so submitted jobs stay queued until the test says."""
    c = make_controller(proxy_warning=30, proxy_margin=10, proxy_recheck=5, scheduler="fifo", slots=1)
    c.seen = recorder(c, events.PROXY_EXPIRING)
    return c


def renew(c, lifetime):
    """Write the gtransfer proxy, ending ``lifetime`` seconds from the fake now."""
    end = int(c.fake_now()) + lifetime
    write_proxy(paths.proxy_credential(), end)
    return end


def proxied_job(c, home, lifetime, name="a.job"):
    """A gtransfer job whose proxy ends in ``lifetime`` seconds: ``(id, end)``."""
    end = renew(c, lifetime)
    return submit(c, home, name, GTRANSFER), end


def proxy_timers(c):
    """The proxy timers armed in the loop (cancelled ones left out)."""
    return [t for t in c.timers if t[2] is not None and "ProxyWatch" in t[2].__qualname__]


def warnings(c):
    return [(job_id, info["not_after"], info["held"]) for _, job_id, info in c.seen]


def test_one_warning_per_validity_at_the_warning_time(proxied, home):
    c = proxied
    a, end = proxied_job(c, home, 100)
    b = submit(c, home, "b.job", GTRANSFER)  # sharing the proxy: one event each
    assert c.store.read(a, "job.proxyNotAfter") == str(end)
    assert c.store.read(a, "job.proxyFile") == paths.proxy_credential()
    advance(c, 69)
    assert warnings(c) == []
    advance(c, 1)
    assert warnings(c) == [(a, end, False), (b, end, False)]
    info = c.seen[0][2]
    assert info["seconds_left"] == 30 and info["proxy_file"] == paths.proxy_credential()
    for _ in range(5):
        advance(c, 3)
    assert len(warnings(c)) == 2
    assert c.store.read(a, "job.proxyWarned") == str(end)


def test_a_burst_of_jobs_sharing_a_proxy_keeps_one_timer(proxied, home):
    c = proxied
    a, end = proxied_job(c, home, 100)
    before = len(c.timers)
    for n in range(20):
        submit(c, home, "b%d.job" % n, GTRANSFER)
    assert len(proxy_timers(c)) == 1
    assert len(c.timers) == before  # none armed and cancelled per job
    advance(c, 70)
    assert len(warnings(c)) == 21


def test_a_renewed_proxy_moves_the_warning(proxied, home):
    c = proxied
    a, end = proxied_job(c, home, 100)
    advance(c, 50)
    renewed = end + 200
    write_proxy(paths.proxy_credential(), renewed)
    advance(c, 20)  # the old warning time: the file is read, the timer moves
    assert warnings(c) == []
    assert c.store.read(a, "job.proxyNotAfter") == str(renewed)
    advance(c, 199)
    assert warnings(c) == []
    advance(c, 1)
    assert warnings(c) == [(a, renewed, False)]


def test_a_renewal_after_the_warning_gets_its_own_warning(proxied, home):
    c = proxied
    a, end = proxied_job(c, home, 100)
    advance(c, 70)
    write_proxy(paths.proxy_credential(), end + 100)
    advance(c, 29)
    assert warnings(c) == [(a, end, False)]
    advance(c, 1)  # the old end: the renewal is seen, its warning armed
    advance(c, 70)
    assert warnings(c) == [(a, end, False), (a, end + 100, False)]


def test_an_unreadable_proxy_is_no_known_validity(proxied, home):
    c = proxied
    path = paths.proxy_credential()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"not a proxy")
    a = submit(c, home, "a.job", GTRANSFER)
    assert c.store.read(a, "job.proxyNotAfter") is None
    assert not c.proxy_blocks_start(a)
    assert c.proxies[path].timer is None and proxy_timers(c) == []


def test_a_job_with_an_ended_proxy_is_held_and_released_when_renewed(proxied, home):
    c = proxied
    a, end = proxied_job(c, home, -5)
    assert c.store.state(a) == states.HELD
    assert "ended at" in c.store.read(a, "job.proxyHold")
    assert c.store.read(a, "job.reason") == c.store.read(a, "job.proxyHold")
    assert warnings(c) == [(a, end, True)]  # told once, as held
    advance(c, 5)
    advance(c, 5)
    assert c.store.state(a) == states.HELD and len(warnings(c)) == 1
    renew(c, 1000)
    advance(c, 5)
    assert c.store.state(a) == states.QUEUED
    assert c.store.read(a, "job.proxyHold") is None and c.store.read(a, "job.reason") is None
    c.tick()
    assert ("launch_sputnik", c.store.job_path(a), a) in c.system.calls


def test_a_job_picked_within_the_margin_is_held_not_started(proxied, home):
    c = proxied
    end = int(c.fake_now()) + 100
    write_proxy(paths.proxy_credential(), end)
    first = submit(c, home, "a.job")  # takes the one slot
    c.tick()
    a = submit(c, home, "b.job", GTRANSFER)
    advance(c, 85)  # warned at 70 s; 15 s left
    c.store.transition(first, states.FINISHED)
    c.fake_now.advance(6)  # 9 s left: within the 10 s margin
    c.need_schedule = True
    c.tick()
    assert c.store.state(a) == states.HELD
    assert "within proxy_margin" in c.store.read(a, "job.proxyHold")
    assert warnings(c) == [(a, end, False), (a, end, True)]
    assert not any(call[0] == "launch_sputnik" and call[2] == a for call in c.system.calls)


def test_a_users_hold_is_never_released_by_itself(proxied, home):
    c = proxied
    a, _ = proxied_job(c, home, -5)
    assert c.store.state(a) == states.HELD
    _, answers = ask(c, P.command(P.QHOLD, a))  # the user holds it too: now it is the user's hold
    assert answers == [P.OK]
    assert c.store.read(a, "job.proxyHold") is None
    renew(c, 1000)
    for _ in range(4):
        advance(c, 5)
    assert c.store.state(a) == states.HELD


def test_an_automatic_hold_survives_a_restart_of_the_controller(make_controller, home):
    c = make_controller(proxy_warning=30, proxy_margin=10, proxy_recheck=5, slots=1)
    a, _ = proxied_job(c, home, -5)
    assert c.store.state(a) == states.HELD
    c2 = make_controller(proxy_warning=30, proxy_margin=10, proxy_recheck=5, slots=1)
    seen = recorder(c2, events.PROXY_EXPIRING)
    c2.proxy_recover()
    assert a in c2.proxy_held and seen == []  # warned before: not again
    renew(c2, 1000)
    advance(c2, 5)
    assert c2.store.state(a) == states.QUEUED


def test_ended_and_deleted_jobs_are_no_longer_watched(proxied, home):
    c = proxied
    write_proxy(paths.proxy_credential(), int(c.fake_now()) + 100)
    a = submit(c, home, "a.job", GTRANSFER)
    b = submit(c, home, "b.job", GTRANSFER)
    c.store.transition(a, states.FAILED)
    assert set(c.proxies[paths.proxy_credential()].jobs) == {b}
    c.store.remove(b)
    assert c.proxies == {} and c.job_proxies == {}


def test_clients_never_load_cryptography(home):
    """gqstat shows the end the controller stored; neither it, gqsub's
    modules, trigger's nor the controller's import load ``cryptography``
    (a fresh interpreter, so no other test has loaded it)."""
    import subprocess

    lib = os.path.dirname(os.path.dirname(proxy.__file__))
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from gsatellite.cli import gqstat, trigger, gsatctl\n"
        "from gsatellite import client, controller, events, proxy, views\n"
        "from gsatellite.client import submission\n"
        "print('cryptography' in sys.modules)\n" % lib
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_gqstat_shows_the_stored_end(home):
    from gsatellite import job, views
    from .conftest import new_job

    store, job_id = new_job(home, "gtransfer")
    store.write(job_id, "job.proxyNotAfter", 1700000000)
    store.write(job_id, "job.proxyFile", "/p")
    store.write(job_id, "job.submitted", 1699990000)  # submitted by the new tools: extended lines shown
    record = views.record(job.Job(job_id))
    assert (record["proxy_not_after_epoch"], record["proxy_file"], record["proxy_hold"]) == (1700000000, "/p", None)
    assert record["proxy_not_after_iso"] == views.iso(1700000000)
    text = views.detailed(job.Job(job_id), extended=True)
    assert 'job.proxyFile="/p"\n' in text
    assert 'job.proxyNotAfterTime="%s"\n' % views.local_time("1700000000") in text
    assert "proxy" not in views.detailed(job.Job(job_id))


def test_a_warning_that_cannot_be_recorded_is_still_given_once(proxied, home, monkeypatch):
    import errno

    c = proxied
    a, end = proxied_job(c, home, 100)
    write = c.store.write

    def full_disk(job_id, name, value):
        if name == "job.proxyWarned":
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(job_id, name, value)

    monkeypatch.setattr(c.store, "write", full_disk)
    advance(c, 70)
    advance(c, 10)
    assert warnings(c) == [(a, end, False)]

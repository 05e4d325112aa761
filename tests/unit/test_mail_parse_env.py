"""mail.parse_env on damaged job.env files: it always returns, with whole values only.

A job.env cut off mid-line (a full disk, a killed writer) once made
:func:`mail.parse_env` loop for ever, and with it the controller's mail on
JOB_END.  Each case runs under an interval timer, so a loop that does not end
fails the test instead of hanging the suite.
"""

import os
import signal
import sys
from contextlib import contextmanager

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lib"))

from gsatellite import jobenv, mail  # noqa: E402

# Generous for one parse of a few hundred bytes; it only has to catch a loop.
LIMIT = 2.0


class TooSlow(Exception):
    pass


@contextmanager
def deadline(seconds):
    def expire(signum, frame):
        raise TooSlow("parse_env did not return within %.1f s" % seconds)

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def parse(tmp_path, data):
    f = tmp_path / "job.env"
    f.write_bytes(data)
    with deadline(LIMIT):
        return mail.parse_env(str(f))


def realistic_env():
    env = {
        "GSAT_JOBNAME": 'my "job" $x',
        "GSAT_O_WORKDIR": "/home/u/.gsatellite/gschedule/jobs/00042.d/jobtmp",
        "GSAT_O_HOME": "/home/u",
        "GSAT_O_LOGNAME": "u",
        "GSAT_O_JOBID": "00042",
        "GSAT_O_HOST": "frontend1.example.org",
        "GSAT_O_PATH": "/usr/bin:/bin:/opt/gsat/bin",
        # A value that looks like further assignments, and one ending in a backslash.
        "X_TRICKY": 'line one\nexport FAKE="no"\n\\',
        "X509_USER_PROXY": "/home/u/.gsatellite/tmp/defaultGsiProxyCredential",
    }
    return env


def test_parse_env_returns_on_a_file_cut_off_after_export_name(tmp_path):
    assert parse(tmp_path, b'export A="x"\nexport GSAT_O_HOST') == {"A": "x"}


def test_parse_env_returns_on_a_file_cut_off_inside_a_value(tmp_path):
    assert parse(tmp_path, b'export A="x"\nexport B="half') == {"A": "x"}


def test_parse_env_skips_lines_that_are_not_assignments(tmp_path):
    data = b'# comment\nexport\nexport NOVALUE\nB=1\nexport A="x"\n\nexport C="y"'
    assert parse(tmp_path, data) == {"A": "x", "C": "y"}


@pytest.mark.parametrize("data", [b"", b"\n", b"export ", b'export ="', b'export =""', b"\\", b'"', b"\xff\xfe"])
def test_parse_env_returns_on_scraps(tmp_path, data):
    got = parse(tmp_path, data)
    assert got in ({}, {"": ""})


def test_parse_env_truncated_at_every_byte_returns_whole_values_only(tmp_path):
    env = realistic_env()
    data = jobenv.render(env).encode("utf-8")
    assert parse(tmp_path, data) == env
    names = list(env)
    for cut in range(len(data) + 1):
        got = parse(tmp_path, data[:cut])
        # Only complete assignments, in file order, each with its full value.
        assert list(got) == names[:len(got)], cut
        assert all(env[k] == v for k, v in got.items()), cut


def test_parse_env_truncated_after_a_whole_line_keeps_every_line_before(tmp_path):
    env = realistic_env()
    items = list(env.items())
    for k in range(len(items) + 1):
        head = jobenv.render(dict(items[:k])).encode("utf-8")
        assert parse(tmp_path, head) == dict(items[:k]), k
        assert parse(tmp_path, head + b"export NEXT") == dict(items[:k]), k

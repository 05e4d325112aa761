"""Issue 11, item 7: every setting is checked, with one error naming the key.

Seen: ``slots = 0`` was accepted and nothing ever ran; ``sputnik_wakeup = 0``
made each sputnik use a whole core.
"""

import pytest

from gsatellite import config


def test_every_setting_has_a_validator_and_the_defaults_pass():
    assert set(config.VALIDATORS) == set(config.DEFAULTS)
    config.check_all()


BAD = [
    ("slots", "0"),
    ("slots", "-1"),
    ("slots", "two"),
    ("sputnik_wakeup", "0"),
    ("sputnik_wakeup", "-3"),
    ("sputnik_wakeup", "nan"),
    ("sputnik_timeout", "0"),
    ("answer_timeout", "0"),
    ("answer_timeout", "inf"),
    ("liveness_interval", "5"),
    ("liveness_interval", "0"),
    ("sigfwd_poll", "0"),
    # Found by a review: a period of a millionth of a second kept a sputnik
    # at two thirds of a core, and the controller and forwarder spun and
    # could not be stopped.
    ("sputnik_wakeup", "0.000001"),
    ("liveness_interval", "1e-9"),
    ("sigfwd_poll", "0.01"),
    ("max_message_size", "100"),
    ("max_job_size", "0"),
    ("max_restarts", "-1"),
    ("scheduler", "lifo"),
    ("scheduler", ""),
    ("scheduler", "../fifo"),
    ("hostname", "bad host"),
    ("hostname", "-lead.example.org"),
    ("smtp_port", "0"),
    ("smtp_port", "70000"),
    ("smtp_host", ""),
    ("mail_timeout", "0"),
    ("mail_tarball_limit", "-1"),
]


@pytest.mark.parametrize("key, value", BAD)
def test_a_bad_setting_is_refused_naming_its_key(home, monkeypatch, key, value):
    monkeypatch.setenv("GSAT_" + key.upper(), value)
    with pytest.raises(config.ConfigError) as e:
        config.check_all()
    assert str(e.value).startswith(key + ": ")
    assert "GSAT_" + key.upper() in str(e.value)
    with pytest.raises(config.ConfigError, match="^%s: " % key):
        config.get(key)


def test_a_bad_setting_in_a_file_names_the_file(home):
    path = home / ".gsatellite" / "gsatellite.conf"
    path.parent.mkdir(exist_ok=True)
    path.write_text("slots = 0\n")
    config.reset()
    with pytest.raises(config.ConfigError) as e:
        config.get_int("slots")
    assert str(e.value) == "slots: must be a whole number >= 1, not '0' (set in %s)" % path


@pytest.mark.parametrize("key, value, expected", [
    ("slots", "4", 4),
    ("liveness_interval", "4.5", 4.5),
    ("hostname", "", ""),
    ("hostname", "login01.cluster.example.org", "login01.cluster.example.org"),
    ("smtp_host", "::1", "::1"),
    ("max_message_size", "16384", 16384),
])
def test_good_settings_are_accepted(home, monkeypatch, key, value, expected):
    monkeypatch.setenv("GSAT_" + key.upper(), value)
    assert config.value(key) == expected

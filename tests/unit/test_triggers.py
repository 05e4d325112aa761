"""Event names and argument encoding of trigger (lib/gsatellite/triggers.py).

* check_name accepts 1 to 64 of ``[A-Za-z0-9_]`` and refuses everything
  else, including gsatellite's own event names.
* encode_args produces one word per argument, free of ``;`` and of any
  white space (the message grammar splits on spaces and ends at ``;``), and
  decode_args gives back exactly the arguments: spaces, ``%``, ``;``, empty
  strings, things that look like escapes, non-ASCII, other white space
  (also above U+00FF).
"""

import pytest

from gsatellite import triggers


@pytest.mark.parametrize("name", ["A", "DATA_READY", "x1", "_", "a" * 64, "0", "Job_start"])
def test_good_names(name):
    assert triggers.check_name(name) is None


@pytest.mark.parametrize("name", [
    "", "a" * 65, "../x", "x/y", "/etc", ".", "..", "a b", "a;b", "a\nb", "a-b", "a.b",
    "ünï", "A\0", "*", "$HOME", " A", "A ",
    "JOB_START", "JOB_TERMINATION",
])
def test_bad_names(name):
    reason = triggers.check_name(name)
    assert isinstance(reason, str) and reason


CASES = [
    [],
    ["a"],
    ["a", "b"],
    ["with space", "two  spaces", " lead", "trail "],
    ["50%", "%", "%%", "%41", "%00", "%2", "%zz", "100%25"],
    ["a;b", ";", ";;x"],
    [""],
    ["", ""],
    ["x", "", "y"],
    ["line\nbreak", "cr\rx", "tab\tx"],
    ["ü€", "日本語", "emoji 😀", "naïve café"],
]
# Whitespace other than space, tab, CR and LF: ASCII control characters and
# non-ASCII ones, some above U+00FF (more than one escaped byte).
OTHER_WHITESPACE = [
    ["nbsp\u00a0here", "nel\x85x"],
    ["vt\x0bx", "ff\x0cx", "fs\x1cx"],
    ["em\u2003space", "line\u2028sep", "ideographic\u3000space"],
]
ALL = CASES + OTHER_WHITESPACE
IDS = ["case%d" % i for i in range(len(ALL))]


@pytest.mark.parametrize("args", ALL, ids=IDS)
def test_round_trip(args):
    text = triggers.encode_args(args)
    assert triggers.decode_args(text) == args


@pytest.mark.parametrize("args", ALL, ids=IDS)
def test_encoded_form_is_safe_for_the_message_grammar(args):
    text = triggers.encode_args(args)
    assert ";" not in text
    # Whatever a receiver splits on, only the separating spaces are white space.
    assert not any(c.isspace() and c != " " for c in text)
    words = text.split(" ") if text else []
    assert len(words) == len(args)
    assert all(words)


def test_plain_words_are_left_readable():
    assert triggers.encode_args(["a", "b", "DATA_1"]) == "a b DATA_1"

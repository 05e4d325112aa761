"""#GSAT directives (FEATURES.md §5): scanning, validation, and the QSUB encoding.

``scan`` reads directives up to the first line that is neither empty nor a
comment; ``options`` validates and merges them with gqsub's options (which
win); ``encode``/``decode`` carry the options inside one QSUB message and
must give back exactly what went in.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lib"))

from gsatellite import directives  # noqa: E402
from gsatellite.directives import DirectiveError  # noqa: E402


def _script(tmp_path, text, name="job"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


# -- scan ---------------------------------------------------------------------------

def test_scan_stops_at_first_command(tmp_path):
    path = _script(tmp_path, (
        "#!/bin/bash\n"
        "#GSAT -N first\n"
        "\n"
        "# an ordinary comment\n"
        "#GSAT\t-m be\n"
        "#GSAT -M a@example.org,b@example.org\n"
        "echo hello\n"
        "#GSAT -N too-late\n"
        "#GSAT -T gtransfer\n"
    ))
    assert directives.scan(path) == [
        ("-N", "first"),
        ("-m", "be"),
        ("-M", "a@example.org,b@example.org"),
    ]


def test_scan_ignores_lookalikes(tmp_path):
    path = _script(tmp_path, (
        "#!/bin/sh\n"
        "#GSATX -N nope\n"
        "##GSAT -N nope\n"
        "#gsat -N nope\n"
        "#PBS -N nope\n"
        "#GSAT -o /some/where with spaces  \n"
        "#GSAT -Z unknown\n"
        ":\n"
    ))
    assert directives.scan(path) == [("-o", "/some/where with spaces"), ("-Z", "unknown")]


def test_scan_without_directives_and_missing_file(tmp_path):
    assert directives.scan(_script(tmp_path, "echo hi\n#GSAT -N x\n")) == []
    assert directives.scan(_script(tmp_path, "")) == []
    assert directives.scan(str(tmp_path / "missing")) == []


def test_job_type_last_wins():
    assert directives.job_type([("-T", "tgftp"), ("-N", "x"), ("-T", "gtransfer")]) == "gtransfer"
    assert directives.job_type([("-N", "x")]) is None


# -- options ---------------------------------------------------------------------------

def test_options_valid_values(tmp_path):
    base = str(tmp_path / "jobs")
    found = [("-T", "gtransfer"), ("-N", "my job ü"), ("-m", "eab"), ("-M", "a@example.org, b.c+d@x.y"),
             ("-o", "out/job.out"), ("-e", "/abs/job.err")]
    assert directives.options(found, base) == {
        "-T": "gtransfer",
        "-N": "my job ü",
        "-m": "abe",
        "-M": "a@example.org,b.c+d@x.y",
        "-o": os.path.join(base, "out", "job.out"),
        "-e": "/abs/job.err",
    }


def test_options_mail_none_and_local_address():
    assert directives.options([("-m", "n"), ("-M", "someone")], "/") == {"-m": "n", "-M": "someone"}


def test_options_tilde_path(monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    assert directives.options([("-o", "~/x.out")], "/base") == {"-o": "/home/someone/x.out"}


def test_overrides_win(tmp_path):
    found = [("-N", "a"), ("-m", "be"), ("-o", "rel.out")]
    got = directives.options(found, "/jobs", {"-N": "b", "-o": "/abs.out"})
    assert got == {"-N": "b", "-m": "be", "-o": "/abs.out"}


def test_unknown_directive_warns_and_is_dropped():
    warnings = []
    got = directives.options([("-Z", "zzz"), ("-N", "x")], "/", warn=warnings.append)
    assert got == {"-N": "x"}
    assert len(warnings) == 1 and "-Z" in warnings[0] and "zzz" in warnings[0]


@pytest.mark.parametrize("option,value", [
    ("-N", "a/b"),
    ("-N", "a;b"),
    ("-N", "a\nb"),
    ("-N", ""),
    ("-N", ".."),
    ("-N", "x" * 201),
    ("-m", "xyz"),
    ("-m", "bn"),
    ("-m", ""),
    ("-M", "a@@b"),
    ("-M", "@b"),
    ("-M", "a@"),
    ("-M", "a@b,,c@d"),
    ("-M", "a b@c"),
    ("-M", "a@b;rm"),
    ("-o", ""),
    ("-e", "x;y"),
])
def test_malformed_values_are_refused(option, value):
    with pytest.raises(DirectiveError) as e:
        directives.options([(option, value)], "/")
    # The message names what is wrong, so gqsub's refusal is clear.
    assert {"-N": "job name", "-m": "mail points", "-M": "mail address", "-o": "path", "-e": "path"}[option] in str(e.value)
    # The same rules hold for gqsub's options.
    with pytest.raises(DirectiveError):
        directives.options([], "/", {option: value})


# -- encode / decode --------------------------------------------------------------------

ROUND_TRIP = [
    {},
    {"-N": "plain"},
    {"-N": "with space", "-o": "/a b/c%d", "-e": "/x;y", "-m": "abe", "-M": "a@b,c@d"},
    {"-N": "100% sure %41 %zz %", "-T": "gtransfer"},
    {"-o": "/dir/ünïcödé 日本"},
    {"-N": "a\rb"},
    {"-W": "afterok:00001:00002", "-a": "1796133600"},
]


@pytest.mark.parametrize("opts", ROUND_TRIP)
def test_encode_decode_round_trip(opts):
    text = directives.encode(opts)
    assert ";" not in text and "\n" not in text and "\r" not in text
    assert directives.decode(text) == opts


@pytest.mark.parametrize("value", [
    "a\tb", "a\x0bb", "a\x0cb", "a\x1cb", "a\x85b", "a\u00a0b",
    "a\u2003b", "名前\u3000です", "a\u2028b",
])
def test_encode_decode_round_trip_other_whitespace(value):
    # check_name and check_path accept these values, so gqsub may send them.
    assert directives.options([], "/", {"-N": value, "-o": "/" + value})
    opts = {"-N": value, "-o": "/" + value}
    assert directives.decode(directives.encode(opts)) == opts


@pytest.mark.parametrize("text", ["-N", "-Q=x", "N=x", "-N=a junk"])
def test_decode_refuses_garbage(text):
    with pytest.raises(DirectiveError):
        directives.decode(text)

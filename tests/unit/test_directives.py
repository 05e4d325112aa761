"""#GSAT directives (FEATURES.md §5, docs/directives.md): scanning,
validation, and the QSUB encoding.

``scan`` reads ``-T`` by the classic rule (anywhere, exactly one line
containing ``#GSAT -T``) and the other directives up to the first line that
is neither empty nor a comment; ``options`` validates and merges them with
gqsub's options (which win and are strict; a script's bad value is refused
only when the script uses a valid ``-N``/``-a``/``-W``, else ignored with a
warning); ``encode``/``decode`` carry the options inside one QSUB message
and must give back exactly what went in.
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
    found = directives.scan(path)
    # -T is read where the classic tool read it: anywhere in the file.
    assert found == [
        ("-T", "gtransfer"),
        ("-N", "first"),
        ("-m", "be"),
        ("-M", "a@example.org,b@example.org"),
    ]
    assert found.notes == ["'#GSAT -N too-late' after the first command is not read"]


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
    ("-T", "nosuchtype"),
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
    # gqsub's options are always strict.
    with pytest.raises(DirectiveError) as e:
        directives.options([], "/", {option: value})
    # The message names what is wrong, so gqsub's refusal is clear.
    what = {"-T": "job type", "-N": "job name", "-m": "mail points", "-M": "mail address", "-o": "path", "-e": "path"}
    assert what[option] in str(e.value)
    if option == "-T":
        return  # a -T directive is read by the classic rule (test_classic_type_rule)
    # So are the directives of a script written for the new options ...
    with pytest.raises(DirectiveError) as e:
        directives.options([("-a", "2000-01-01T00:00"), (option, value)], "/")
    assert what[option] in str(e.value) and "#GSAT -a 2000-01-01T00:00" in str(e.value)
    # ... while any other script keeps running as the classic tool ran it.
    warnings = []
    assert directives.options([(option, value), ("-T", "tgftp")], "/", warn=warnings.append) == {"-T": "tgftp"}
    assert len(warnings) == 1 and "ignored" in warnings[0] and "#GSAT %s %s" % (option, value) in warnings[0]


@pytest.mark.parametrize("found,strict", [
    ([("-a", "tomorrow")], False),
    ([("-N", "a/b"), ("-a", "tomorrow")], False),
    ([("-o", "out"), ("-m", "n"), ("-M", "user@host.domain"), ("-a", "tomorrow")], False),
    ([("-N", "nightly"), ("-a", "tomorrow")], True),
    ([("-a", "tomorrow"), ("-W", "depend=afterok:1")], True),
    ([("-a", "2000-01-01T00:00"), ("-m", "xyz")], True),
])
def test_new_options_make_a_script_strict(found, strict):
    if strict:
        with pytest.raises(DirectiveError):
            directives.options(found, "/")
    else:
        warnings = []
        directives.options(found, "/", warn=warnings.append)
        assert warnings


def test_command_line_does_not_make_a_script_strict():
    warnings = []
    got = directives.options([("-a", "tomorrow")], "/", {"-N": "x"}, warn=warnings.append)
    assert got == {"-N": "x"} and len(warnings) == 1


# -- the classic -T rule ---------------------------------------------------------------
# Each case was checked against the classic jobTypes/getJobType (docs/directives.md
# says how to repeat that); test_classic_differential.py does it where the classic
# tree is at hand.

CLASSIC_TYPE_CASES = [
    ("#!/bin/bash\n#GSAT -T gtransfer\ntrue\n", "gtransfer", False),
    ("#!/bin/bash\necho hi\n#GSAT -T tgftp\n", "tgftp", False),
    ("#!/bin/bash\n#GSAT -T default\n", "default", False),
    ("#!/bin/bash\ntrue\n", None, False),
    ("#!/bin/bash\n#GSAT -T gtransfer\n#GSAT -T tgftp\n", None, True),
    ("#!/bin/bash\n#GSAT -T gtransfer\necho '#GSAT -T'\n", None, True),
    ("#!/bin/bash\n#GSAT -T gtransfer \n", None, True),
    ("#!/bin/bash\n#GSAT -T gtransfer\r\n", None, True),
    ("#!/bin/bash\n  #GSAT -T gtransfer\n", None, True),
    ("#!/bin/bash\n#GSAT -Tgtransfer\n", None, True),
    ("#!/bin/bash\n#GSAT  -T gtransfer\n", None, True),
    ("#!/bin/bash\n#GSAT\t-T gtransfer\n", None, True),
    ("#!/bin/bash\n#GSAT -T nosuchtype\n", None, True),
    ("#!/bin/bash\n#GSAT -T gtransfer # a comment\n", None, True),
    ("#!/bin/bash\necho '#GSAT -T gtransfer'\n", None, False),
    ("#!/bin/bash\nx='a #GSAT -T b'\ny='#GSAT -T c'\n", None, False),
]


@pytest.mark.parametrize("text,chosen,warned", CLASSIC_TYPE_CASES)
def test_classic_type_rule(tmp_path, text, chosen, warned):
    found = directives.scan(_script(tmp_path, text))
    assert directives.job_type(found) == chosen
    assert bool(found.notes) == warned, found.notes
    warnings = []
    opts = directives.options(found, str(tmp_path), warn=warnings.append)
    assert opts.get("-T") == chosen
    assert len(warnings) == (1 if warned else 0)


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


def test_scanning_a_fifo_reads_nothing_and_does_not_block(tmp_path):
    """The controller scans a submitted path it found to be a file; a FIFO
    put there since must not hang it."""
    import threading

    fifo = str(tmp_path / "job")
    os.mkfifo(fifo)
    found = []
    t = threading.Thread(target=lambda: found.append(directives.scan(fifo)), daemon=True)
    t.start()
    t.join(5)
    blocked = t.is_alive()
    if blocked:  # let the blocked open go, so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        t.join(5)
    assert not blocked, "scan blocked opening a FIFO"
    assert list(found[0]) == [] and found[0].notes == []


def test_a_whole_large_script_is_scanned(tmp_path):
    """The classic type rule reads the whole file, beyond any reader's
    default limit: a second '#GSAT -T' line after 2 MiB still counts."""
    job = tmp_path / "job"
    job.write_text("#!/bin/bash\n#GSAT -T gtransfer\n" + "# filler\n" * (1 << 18) + "#GSAT -T other\n")
    assert dict(directives.scan(str(job))).get("-T") is None
    job.write_text("#!/bin/bash\n#GSAT -T gtransfer\n" + "# filler\n" * (1 << 18))
    assert dict(directives.scan(str(job))).get("-T") == "gtransfer"


def test_scan_reads_at_most_what_it_is_given(tmp_path, monkeypatch):
    """The controller scans at most max_job_size + 1 bytes of a submitted
    script: one swapped for a huge file after its size was checked is not
    read whole (the copy then refuses it)."""
    from gsatellite import fsutil

    job = tmp_path / "job"
    job.write_text("#!/bin/bash\n#GSAT -N small\n" + "x" * 100000)
    asked = []
    real = fsutil.read_bytes
    monkeypatch.setattr(fsutil, "read_bytes", lambda p, d=None, limit=1 << 20: asked.append(limit) or real(p, d, limit))
    assert dict(directives.scan(str(job), most=1000)) == {"-N": "small"}
    assert asked == [1000]


def test_a_name_that_is_not_utf8_and_a_path_with_nul_are_refused():
    """Found by a review: a Latin-1 ``#GSAT -N`` raised UnicodeEncodeError
    (a traceback from gqsub, "internal error" from the controller), and an
    ``-o`` path with a NUL byte crashed the job's sputnik."""
    from gsatellite import directives

    with pytest.raises(directives.DirectiveError):
        directives.check_name("r\udce9sum\udce9")  # b"r\xe9sum\xe9" read with surrogateescape
    with pytest.raises(directives.DirectiveError):
        directives.check_path("/tmp/x\0y", "/")
    assert directives.check_name("r\u00e9sum\u00e9") == "r\u00e9sum\u00e9"

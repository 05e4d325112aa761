"""The README's headline table is written by bench/run.py (issue 18: the
README quotes it, generated, not hand-edited)."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import report  # noqa: E402


def _report():
    rep = report.Report(["bench/run.py"], [("gsat", "gsatellite (Python)"), ("tsp", "task-spooler")])
    rep.info = {"interp": "/usr/bin/python3", "version": "3.11", "shim": "python3", "tmpdir": "/tmp/x",
                "bytecode": "compiled"}
    rep.cell("a", "gsat", "30.0 ms")
    rep.cell("a", "tsp", "1.0 ms")
    rep.cell("f", "gsat", "4.0 ms | fast")
    return rep


def test_the_headline_replaces_only_what_lies_between_its_lines():
    text = "intro\n%s\nold table\n%s\nafter\n" % (report.HEADLINE_START, report.HEADLINE_END)
    new = report.splice(text, _report().headline())
    assert new.startswith("intro\n" + report.HEADLINE_START + "\n")
    assert new.endswith(report.HEADLINE_END + "\nafter\n")
    assert "old table" not in new
    assert "| a | submit latency, slot busy (median) | 30.0 ms | 1.0 ms |" in new
    assert "| f | wait: job exit to return of the wait command | 4.0 ms \\| fast | not measured |" in new
    assert "Measured by `python3 bench/run.py` on " in new  # the run that measured it
    # Written again, it replaces itself: nothing piles up.
    assert report.splice(new, _report().headline()) == new


@pytest.mark.parametrize("text", ["no markers\n", "%s\n%s\n" % (report.HEADLINE_END, report.HEADLINE_START)])
def test_a_readme_without_the_headline_lines_is_refused(text):
    with pytest.raises(ValueError):
        report.splice(text, "table\n")


def test_the_readme_has_the_headline_lines():
    with open(os.path.join(ROOT, "README.md")) as f:
        report.splice(f.read(), "table\n")


def test_a_run_rewrites_its_own_sections_and_keeps_the_others():
    old = ("# Benchmarks\n\nold header\n\n## gsatellite\n\nold figures\n\n## Transports\n\nwrite-up\n\n"
           "## Side by side\n\nold table\n\n## gsatmail\n\nmails/s\n")
    new = report.merge(old, _report().markdown())
    assert "old figures" not in new and "old table" not in new and "old header" not in new
    titles = [t for t, _ in report.sections(new)]
    assert titles[-2:] == ["Transports", "gsatmail"] and "Side by side" in titles
    assert "write-up" in new and "mails/s" in new
    # Merged again, nothing is doubled.
    assert report.merge(new, _report().markdown()) == new

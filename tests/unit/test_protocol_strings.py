"""The wire strings moved into protocol.py keep their classic spelling, and
each parse undoes its format (runner messages, signal forwarding, WRITE_FIFO,
gqwait FIFO lines)."""

import pytest

from gsatellite import protocol as P


def test_runner_messages_are_spelled_as_the_classic_runner_does():
    assert P.runner_child_pid(4711) == "JOB_CHILD_PID 4711;"
    assert P.runner_started() == "STARTED;"
    assert P.runner_terminated(3) == "TERMINATED 3;"


@pytest.mark.parametrize("args, pid", [("4711", 4711), (" 4711 ", 4711), ("0", None), ("-1", None), ("x", None), ("", None)])
def test_parse_child_pid(args, pid):
    assert P.parse_child_pid(args) == pid


@pytest.mark.parametrize("args, value", [("0", 0), ("143", 143), (" 3", 3), ("", 1), ("x", 1)])
def test_parse_runner_exit(args, value):
    assert P.parse_runner_exit(args) == value


def test_forward_signal_asks_for_no_answer():
    assert P.forward_signal("SIGCONT", 4711) == "SIGCONT 4711;"


@pytest.mark.parametrize("value", [0, 75, P.DELETED])
def test_fifo_lines_round_trip(value):
    line = P.fifo_line("00001", value)
    assert line == "00001 %s" % value
    assert P.parse_fifo_line(line) == ("00001", value)


@pytest.mark.parametrize("line, parsed", [("00001 x", ("00001", 1)), ("00001", None), ("00001 0 extra", None), ("", None)])
def test_odd_fifo_lines(line, parsed):
    assert P.parse_fifo_line(line) == parsed


def test_write_fifo_round_trip():
    msg = P.write_fifo("/run/user/1/gsatellite/gqwait.9.fifo", P.fifo_line("00002", 0))
    assert msg == "WRITE_FIFO /run/user/1/gsatellite/gqwait.9.fifo 00002 0;"
    command, reply_to = P.split(msg)
    verb, _, args = command.partition(" ")
    assert (verb, reply_to) == (P.WRITE_FIFO, "")
    assert P.parse_write_fifo(args) == ("/run/user/1/gsatellite/gqwait.9.fifo", "00002 0")

"""Numbers given to the commands and addresses naming processes, found by a
review: each case printed a traceback, matched nothing silently, or woke a
process that is not ours."""

import os

import pytest

from gsatellite import paths
from gsatellite.cli import gqclean, gqpeek, gqwait
from gsatellite.cli.common import EX_USAGE, Exit
from gsatellite.transport import base, mbox


@pytest.mark.parametrize("call", [
    lambda: gqwait.parse("gqwait", ["--timeout", "nan", "5"]),  # select() raised ValueError
    lambda: gqclean.parse_age("nan"),  # matched no job, exit 0
    lambda: gqclean.parse_age("infd"),
    lambda: gqpeek.parse(["-n", "\u00b2", "5"]),  # int('²') raised ValueError
    lambda: gqpeek.parse(["--run", "\u0663", "5"]),
])
def test_an_absurd_number_is_a_usage_error(call, capsys):
    with pytest.raises(Exit) as e:
        call()
    assert e.value.code == EX_USAGE


def test_an_answer_box_named_after_init_wakes_nobody(home):
    """``ALIVE?;G/mboxes/HOST/1.inbox`` made the controller send SIGCONT to
    PID 1 (and a box named with other scripts' digits, to any process)."""
    init = mbox.box_path("1.inbox")
    assert base._owner(init) is None
    other = mbox.box_path("\u0663%d.inbox" % os.getpid())
    assert base._owner(other) is None
    mine = mbox.box_path("%d.inbox" % os.getpid())
    assert base._owner(mine) == (paths.hostname(), os.getpid())

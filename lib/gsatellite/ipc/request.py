"""Request/reply over message boxes: the client side of every verb.

A request is ``COMMAND;ANSWERBOX``.  The answer box is this process's own
``PID[.N].inbox``, so a gsatellite server can wake us with SIGCONT as soon as
it has answered; a classic server does not, so we also look into the box on a
short, growing interval.  Unlike the classic clients we give up after the
configured ``answer_timeout`` with :class:`AnswerTimeout`.
"""

import os
import time

from .. import config
from ..protocol import message, split
from . import mbox, wake


class RequestError(Exception):
    """No answer.  ``answers`` holds those received before the failure and
    ``boxes`` the answer boxes of all commands, so a caller can find out
    whether an unanswered request was carried out anyway."""

    answers = ()
    boxes = ()


class AnswerTimeout(RequestError):
    pass


_counter = 0


def _answer_box():
    global _counter
    _counter += 1
    return mbox.create_pid_box(suffix=".%d" % _counter)


def post(box, commands, wake_owner=True, timeout=None, alive=None):
    """Send several commands, each with its own answer box; return answers.

    All messages are published first and the owner is woken once, so a
    batch costs one wake-up.  Answers come back in the order of
    ``commands``.  ``alive``, when given, is asked on every look into the
    answer box; once it returns False we stop waiting for a dead receiver.
    """
    if timeout is None:
        timeout = config.get_float("answer_timeout")
    sleeper = wake.Sleeper()
    boxes = [_answer_box() for _ in commands]
    try:
        for command, answer_box in zip(commands, boxes):
            mbox.send(box, message(command, answer_box))
        if wake_owner:
            wake.wake_box_owner(box)
        answers = []
        deadline = time.monotonic() + timeout
        try:
            for answer_box in boxes:
                answers.append(_await(answer_box, deadline, sleeper, box, alive))
        except RequestError as e:
            e.answers, e.boxes = answers, boxes
            raise
        return answers
    finally:
        for b in boxes:
            mbox.remove_box(b)
        sleeper.release()


def request(box, command, wake=True, timeout=None, alive=None):
    """Send one command to ``box`` and return the answer part of the reply."""
    return post(box, [command], wake_owner=wake, timeout=timeout, alive=alive)[0]


def _await(answer_box, deadline, sleeper, target, alive):
    interval = 0.001
    while True:
        msg = mbox.receive(answer_box)
        if msg is not None:
            return split(msg)[0]
        left = deadline - time.monotonic()
        if left <= 0:
            raise AnswerTimeout("no answer from %s" % target)
        if alive is not None and not alive():
            raise RequestError("%s went away without answering" % target)
        # Refresh NFS attribute caches of the box, as the classic clients do.
        try:
            os.utime(answer_box)
        except OSError:
            pass
        sleeper.sleep(min(interval, left))
        interval = min(interval * 2, 0.1)

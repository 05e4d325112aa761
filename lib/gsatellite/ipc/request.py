"""Request/reply over message boxes: the client side of every verb.

A request is ``COMMAND;ANSWERBOX``.  The answer box is this process's own
``PID[.N].inbox``, so a gsatellite server can wake us with SIGCONT as soon as
it has answered; a classic server does not, so we also look into the box on a
short, growing interval.  Unlike the classic clients we give up after the
configured ``answer_timeout`` with :class:`AnswerTimeout`.

A client that gives up (time-out, dead receiver, Ctrl-C) first withdraws
every message the receiver has not read yet, so no request it reports as
not done takes effect later.
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
    # Indices of the commands withdrawn unread: these can never take effect.
    unread = ()


class AnswerTimeout(RequestError):
    pass


class RequestInterrupted(KeyboardInterrupt):
    """Ctrl-C while waiting; unread messages were withdrawn first.  Still a
    KeyboardInterrupt (``except Exception`` must not swallow it), with the
    attributes of :class:`RequestError`."""

    answers = ()
    boxes = ()
    unread = ()


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
    boxes = []
    sent = []
    answers = []
    try:
        try:
            for command in commands:
                boxes.append(_answer_box())
                sent.append(mbox.send(box, message(command, boxes[-1])))
            if wake_owner:
                wake.wake_box_owner(box)
            deadline = time.monotonic() + timeout
            for answer_box in boxes:
                answers.append(_await(answer_box, deadline, sleeper, box, alive))
        except KeyboardInterrupt:
            raise _give_up(RequestInterrupted("interrupted"), answers, boxes, sent)
        except RequestError as e:
            raise _give_up(e, answers, boxes, sent)
        except (mbox.BoxMissing, OSError):
            if not sent:
                raise
            # Half a batch sent: take back what the receiver has not read.
            _give_up(RequestError(), answers, boxes, sent)
            raise
        return answers
    finally:
        for b in boxes:
            mbox.remove_box(b)
        sleeper.release()


def _give_up(error, answers, boxes, sent):
    """Withdraw what is still unread and record the outcome on ``error``."""
    error.answers, error.boxes = answers, boxes
    error.unread = [i for i in range(len(answers), len(sent)) if mbox.withdraw(sent[i])]
    # An answer may have arrived between the last look and the withdrawal.
    for i in range(len(answers), len(sent)):
        if i in error.unread:
            break
        msg = mbox.receive(boxes[i]) if mbox.exists(boxes[i]) else None
        if msg is None:
            break
        answers.append(split(msg)[0])
    return error


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

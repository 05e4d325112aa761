"""Request/reply: the client side of every verb.

A request is ``COMMAND;ANSWERADDRESS``.  The answer inbox is this process's
own (``PID.N``), so a gsatellite server can wake us with SIGCONT as soon as
it has answered; a classic server does not, so we also look into the inbox
on a short, growing interval.  Unlike the classic clients we give up after
the configured ``answer_timeout`` with :class:`AnswerTimeout`.

A message larger than ``max_message_size`` is refused before anything is
sent (:class:`TooLarge`): a receiver would drop it and the sender would
wait for an answer that never comes.

A client that gives up (time-out, dead receiver, Ctrl-C) first withdraws
every message the receiver has not read yet, so no request it reports as
not done takes effect later.  A receiver on another host is woken through
that host's signal forwarder; when the wake-up is still unread as we give
up, the forwarder is the process that did not answer, and the error says
so (``silent``).
"""

import os
import sys
import time

from .. import config, paths
from ..protocol import message, split
from . import base
from .wake import Sleeper


class RequestError(Exception):
    """No answer.  ``answers`` holds those received before the failure and
    ``boxes`` the answer addresses of all commands, so a caller can find out
    whether an unanswered request was carried out anyway."""

    answers = ()
    boxes = ()
    # Indices of the commands withdrawn unread: these can never take effect.
    unread = ()
    # The process that did not do its part, when it is not the receiver
    # itself ("the signal forwarder sigfwd of HOST"), else None.
    silent = None


class AnswerTimeout(RequestError):
    pass


class TooLarge(ValueError):
    """A message larger than a receiver accepts (``max_message_size``): a
    receiver would drop it unanswered, so it is refused before anything of
    its batch is sent."""


def check_size(text, limit=None):
    """:class:`TooLarge` if message ``text`` (plus its newline) is larger
    than ``limit`` bytes (default: the ``max_message_size`` setting)."""
    limit = config.get_int("max_message_size") if limit is None else limit
    size = len(text.encode("utf-8", "surrogateescape")) + 1
    if size > limit:
        raise TooLarge("a message of %d bytes is larger than max_message_size (%d bytes)" % (size, limit))


class RequestInterrupted(KeyboardInterrupt):
    """Ctrl-C while waiting; unread messages were withdrawn first.  Still a
    KeyboardInterrupt (``except Exception`` must not swallow it), with the
    attributes of :class:`RequestError`."""

    answers = ()
    boxes = ()
    unread = ()
    silent = None


_counter = 0


def _log(line):
    # A client's stdout is its output (a job id, a table): complaints about
    # a bad entry in its answer inbox go to stderr.
    sys.stderr.write("%s: %s\n" % (os.path.basename(sys.argv[0] or "gsatellite"), line))


def _answer_inbox(to):
    global _counter
    _counter += 1
    return base.open_inbox(tag=str(_counter), log=_log, kind=base.answer_kind(to))


def post(to, commands, wake_owner=True, timeout=None, alive=None):
    """Send several commands, each with its own answer inbox; return answers.

    All messages are published first and the owner is woken once, so a
    batch costs one wake-up.  Answers come back in the order of
    ``commands``.  ``alive``, when given, is asked on every look into the
    answer inbox; once it returns False we stop waiting for a dead receiver.
    """
    if timeout is None:
        timeout = config.get_float("answer_timeout")
    sleeper = Sleeper()
    inboxes = []
    sent = []
    answers = []
    woken = _Wake()
    try:
        try:
            before = base.changed(to)
            for _ in commands:
                inboxes.append(_answer_inbox(to))
            texts = [message(command, inbox.address) for command, inbox in zip(commands, inboxes)]
            for text in texts:
                check_size(text)
            for text in texts:
                sent.append(base.send(to, text))
            if wake_owner:
                woken.sent(to, base.wake_owner_if_safe(to, before))
            deadline = time.monotonic() + timeout
            for inbox in inboxes:
                answers.append(_await(inbox, deadline, sleeper, to, alive, timeout))
        except KeyboardInterrupt:
            raise _give_up(RequestInterrupted("interrupted"), answers, inboxes, sent, woken)
        except RequestError as e:
            raise _give_up(e, answers, inboxes, sent, woken)
        except OSError:  # base.TransportError included
            if not sent:
                raise
            # Half a batch sent: take back what the receiver has not read.
            _give_up(RequestError(), answers, inboxes, sent, woken)
            raise
        return answers
    finally:
        for inbox in inboxes:
            inbox.close()
        sleeper.release()


class _Wake:
    """The wake-up a request handed to another host's signal forwarder."""

    receipt = None
    at = None
    host = None
    missing = False  # the receiver's host has no forwarder box

    def sent(self, to, result):
        found = base.owner(to)
        if found is None or found[0] == paths.hostname():
            return
        self.host = found[0]
        if isinstance(result, base.Receipt):
            self.receipt, self.at = result, time.monotonic()
        elif result is False:
            self.missing = True

    def silent(self):
        """Who did not pass on the wake-up, or None.  A wake-up still unread
        is taken back, but only after the forwarder had time for two looks
        into its box."""
        if self.missing:
            return "the signal forwarder sigfwd of %s (it has no box: not running)" % self.host
        if self.receipt is None:
            return None
        grace = 2 * config.get_float("sigfwd_poll") + 1.0
        if time.monotonic() - self.at < grace or not base.withdraw(self.receipt):
            return None
        return "the signal forwarder sigfwd of %s (it left the wake-up unread)" % self.host


def _give_up(error, answers, inboxes, sent, woken=None):
    """Withdraw what is still unread and record the outcome on ``error``."""
    if woken is not None and len(answers) < len(sent):
        error.silent = woken.silent()
    error.answers = answers
    error.boxes = [inbox.address for inbox in inboxes]
    error.unread = [i for i in range(len(answers), len(sent)) if base.withdraw(sent[i])]
    # An answer may have arrived between the last look and the withdrawal.
    for i in range(len(answers), len(sent)):
        if i in error.unread:
            break
        try:
            msg = inboxes[i].receive()
        except base.Unreachable:
            msg = None
        if msg is None:
            break
        answers.append(split(msg)[0])
    return error


def request(to, command, wake=True, timeout=None, alive=None):
    """Send one command to ``to`` and return the answer part of the reply."""
    return post(to, [command], wake_owner=wake, timeout=timeout, alive=alive)[0]


def describe(to):
    """The receiver of ``to`` as an error message names it: ``PID 7 on
    HOST (BOX)``, or the address alone when it names no process."""
    found = base.owner(to)
    return "PID %d on %s (%s)" % (found[1], found[0], to) if found else str(to)


# The poll interval (doubling from 1 ms) from which _await asks whether
# the receiver still lives: after some 3 ms without an answer.
_ALIVE_AFTER = 0.004


def _await(inbox, deadline, sleeper, target, alive, timeout):
    interval = 0.001
    while True:
        msg = inbox.receive()
        if msg is not None:
            return split(msg)[0]
        left = deadline - time.monotonic()
        if left <= 0:
            raise AnswerTimeout("no answer from %s within %g s" % (describe(target), timeout))
        # Not before the first sleeps: most answers come within them, and
        # the check (a process look-up) is then saved.
        if alive is not None and interval >= _ALIVE_AFTER and not alive():
            raise RequestError("%s went away without answering" % describe(target))
        inbox.refresh()
        sleeper.sleep(min(interval, left))
        interval = min(interval * 2, 0.1)

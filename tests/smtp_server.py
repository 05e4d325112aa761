"""A real SMTP server for the mail tests: aiosmtpd on 127.0.0.1.

:class:`SmtpServer` listens on a free port and keeps every message it
receives (parsed with :mod:`email`) in ``messages``.  The pytest fixture
:func:`smtp` starts one and stops it in teardown, even when the test failed.
:func:`dead_port` gives a port on which a connection is refused for as long
as the returned socket stays open (it is bound but never listens, so no
other process can take the port meanwhile).
"""

import email
import email.policy
import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def dead_port():
    """``(port, sock)``: nothing will accept connections on ``port`` until
    ``sock`` is closed."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    return s.getsockname()[1], s


class _Collector:
    def __init__(self, server):
        self.server = server

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.server.lock:
            self.server.messages.append(
                {"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "message": msg}
            )
        return "250 OK"


class SmtpServer:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()
        self.port = None
        self.controller = None

    def start(self):
        # The port is found by binding and released before aiosmtpd binds
        # it; retry in the unlikely case another process took it meanwhile.
        last = None
        for _ in range(5):
            port = free_port()
            ctl = Controller(_Collector(self), hostname=HOST, port=port)
            try:
                ctl.start()
            except Exception as e:  # aiosmtpd re-raises the bind error
                last = e
                continue
            self.controller, self.port = ctl, port
            return self
        raise RuntimeError("cannot start the SMTP server: %s" % last)

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def received(self):
        with self.lock:
            return list(self.messages)

    def wait_count(self, n, timeout=30):
        """Wait until at least ``n`` messages arrived; returns them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError("SMTP server got %d message(s) in %ss, wanted %d: %r" % (
            len(self.received()), timeout, n, [m["message"]["Subject"] for m in self.received()]))


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()

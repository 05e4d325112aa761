"""A Ctrl-C that lands where Python cannot raise it (a callback the
interpreter runs by itself, as the import machinery's module-lock callback)
still interrupts the command, without "Exception ignored" and a traceback."""

import os
import subprocess
import sys

LIB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lib")

CODE = """
import sys
sys.path.insert(0, %r)
import signal, time, weakref
signal.signal(signal.SIGINT, signal.default_int_handler)
import gsatellite.cli
class Lock: pass
def callback(ref):
    raise KeyboardInterrupt  # what a Ctrl-C inside the import machinery's callback does
lock = Lock()
ref = weakref.ref(lock, callback)
try:
    del lock
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pass
    print("not interrupted")
except KeyboardInterrupt:
    print("interrupted")
"""


def test_a_ctrl_c_swallowed_by_a_callback_interrupts_the_command_after_it():
    out = subprocess.run([sys.executable, "-c", CODE % LIB], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "interrupted"
    assert "Exception ignored" not in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_other_unraisable_errors_are_still_reported():
    code = (CODE % LIB).replace("raise KeyboardInterrupt", "raise ValueError('seen')")
    code = code.replace("deadline = time.monotonic() + 10", "deadline = time.monotonic() + 0.2")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "not interrupted"
    assert "ValueError: seen" in out.stderr

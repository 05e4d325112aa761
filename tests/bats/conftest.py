"""Run the black-box bats-core suite (tests/bats/*.bats) from pytest.

Each ``@test`` of a .bats file is a pytest case.  The file runs once, the
first time one of its cases runs (``bats --tap FILE``: setup_file starts a
controller that all cases of the file share); the TAP result of each case
then decides its pytest outcome, and a failing case shows bats' diagnostic
lines.  The commands come first on PATH: bin/ of the checkout, or the
installed ones when GSAT_TEST_INSTALLED=1 (conftest.BIN).
"""

import os
import re
import shutil
import subprocess

import pytest
from conftest import BIN

_TEST = re.compile(r'^\s*@test\s+(?:"((?:[^"\\]|\\.)*)"|\'([^\']*)\')\s*\{', re.M)
_TAP = re.compile(r"^(ok|not ok) (\d+) (.*?)(?: # (skip|SKIP)\b ?(.*))?$")


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".bats":
        return BatsFile.from_parent(parent, path=file_path)
    return None


class BatsFile(pytest.File):
    results = None

    def collect(self):
        text = self.path.read_text()
        for number, m in enumerate(_TEST.finditer(text), 1):
            name = m.group(1) if m.group(1) is not None else m.group(2)
            yield BatsCase.from_parent(self, name=name, number=number)

    def run_bats(self):
        if self.results is not None:
            return self.results
        bats = shutil.which("bats")
        if bats is None:
            pytest.skip("bats is not installed (make test-deps installs bats-core)")
        env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
        env.pop("GSAT_HOSTNAME", None)
        p = subprocess.run([bats, "--tap", str(self.path)], env=env, capture_output=True,
                           text=True, timeout=600, stdin=subprocess.DEVNULL)
        results, current = {}, None
        for line in p.stdout.splitlines():
            m = _TAP.match(line)
            if m:
                current = int(m.group(2))
                results[current] = [m.group(1), m.group(5) if m.group(4) else None, []]
            elif current is not None and line.startswith("#"):
                results[current][2].append(line)
        self.results = (results, p)
        return self.results


class BatsCase(pytest.Item):
    def __init__(self, *, number, **kwargs):
        super().__init__(**kwargs)
        self.number = number

    def runtest(self):
        results, p = self.parent.run_bats()
        if self.number not in results:
            raise BatsFailure("no TAP result for case %d (bats exited %d)\n%s\n%s"
                              % (self.number, p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
        status, skip, diagnostics = results[self.number]
        if skip is not None:
            pytest.skip(skip or "skipped by bats")
        if status != "ok":
            raise BatsFailure("\n".join(diagnostics) or "failed")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, BatsFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, "%s: %s" % (self.path.name, self.name)


class BatsFailure(Exception):
    pass

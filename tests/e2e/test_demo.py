"""``make demo`` (share/doc/demo.sh) shows what it promises, in under a minute:
four jobs submitted, the progress job followed live to its end, one
notification per trigger from the user service, gqwait returning fail.job's
exit value 3, and gqstat listing every job as ended.  It cleans up after
itself (controller stopped, temporary $HOME removed).
"""

import os
import re
import subprocess
import time

import pytest
from conftest import INSTALLED, ROOT


@pytest.mark.skipif(INSTALLED, reason="the demo runs from a checkout")
def test_demo_shows_the_tool_in_under_a_minute(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("GSAT_HOSTNAME", None)
    started = time.monotonic()
    p = subprocess.run(["bash", os.path.join(ROOT, "share", "doc", "demo.sh")], env=env,
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - started
    assert p.returncode == 0, p.stdout + p.stderr
    assert elapsed < 60
    out = p.stdout
    ids = re.search(r"^\$ gqsub .*\n((?:\d{5}\n){4})", out, re.M)
    assert ids, out
    follow = out.split("$ gqpeek -f ", 1)[1]
    assert "step 1 of 3" in follow and follow.index("all steps done") < follow.index("STEP_DONE service")
    assert len(re.findall(r"job \d{5}: step \d done", out)) == 3
    assert "gqwait exit value: 3\n" in out
    table = out.split("$ gqstat\n", 1)[1].split("\n\n", 1)[0].splitlines()[2:]
    assert sorted(row.split()[0] for row in table) == ["failed", "finished", "finished", "finished"]
    assert "Traceback" not in p.stderr
    assert os.listdir(tmp_path) == []

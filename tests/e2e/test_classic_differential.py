"""Our reading of ``#GSAT -T`` against the classic tool's own function.

Runs only where a checkout of the classic gsatellite 0.2 is at hand:
``GSAT_CLASSIC_TREE=/path/to/classic pytest tests/e2e/test_classic_differential.py``
(docs/directives.md, "Checking against the classic tool").  It sources the
classic ``jobTypes.bashlib`` and asks its ``jobTypes/getJobType`` for the
type of every script of the unit tests' table, then asks ours.
"""

import os
import subprocess

import pytest
from unit.test_directives import CLASSIC_TYPE_CASES

from gsatellite import directives

CLASSIC = os.environ.get("GSAT_CLASSIC_TREE")

pytestmark = pytest.mark.skipif(not CLASSIC, reason="GSAT_CLASSIC_TREE (a classic checkout) not given")


def _classic_type(path):
    # _LIB as the classic libraries expect it for their job type plug-ins.
    script = '_LIB="$1/lib/gsatellite"; . "$_LIB/jobTypes.bashlib" 2>/dev/null; jobTypes/getJobType "$2"'
    p = subprocess.run(["bash", "-c", script, "classic", CLASSIC, path], capture_output=True, text=True, timeout=30)
    return p.stdout.strip()


@pytest.mark.parametrize("text", [case[0] for case in CLASSIC_TYPE_CASES])
def test_same_type_as_the_classic_tool(tmp_path, text):
    # Two levels deep: the classic function first looks for ../job.type.
    d = tmp_path / "a" / "b"
    d.mkdir(parents=True)
    job = d / "job"
    job.write_text(text)
    ours = directives.job_type(directives.scan(str(job))) or "default"
    assert ours == _classic_type(str(job))

"""A stand-in for crontab(1) at the system boundary: tests never touch the
real user's table.  ``fake_crontab(dir)`` writes an executable ``crontab``
into ``dir`` that keeps the table in ``dir/table``:

* ``crontab -l`` prints it, or says "no crontab for USER" and exits 1 as
  cronie does when there is none;
* ``crontab -`` replaces it with standard input;
* with ``dir/broken`` present, ``-l`` fails with another error (as when the
  cron daemon's spool cannot be read), so callers must not write.
"""

import os

SCRIPT = """#!/bin/sh
dir=$(dirname "$0")
if [ -e "$dir/broken" ]; then
	echo "crontab: cannot open spool: Permission denied" >&2
	exit 1
fi
case "$1" in
-l)
	if [ -e "$dir/table" ]; then cat "$dir/table"; exit 0; fi
	echo "no crontab for $(id -un)" >&2
	exit 1
	;;
-)
	cat >"$dir/table.new" && mv "$dir/table.new" "$dir/table"
	;;
*)
	echo "fake crontab: unsupported arguments: $*" >&2
	exit 2
	;;
esac
"""


def fake_crontab(directory):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "crontab")
    with open(path, "w") as f:
        f.write(SCRIPT)
    os.chmod(path, 0o755)
    return os.path.join(directory, "table")

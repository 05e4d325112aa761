#!/usr/bin/env bash
# The main job on its defaults: start the controller in a throw-away $HOME,
# submit the example jobs, wait for them to end, show gqstat, stop.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$here/bin:$PATH"
export HOME
HOME=$(mktemp -d "${TMPDIR:-/tmp}/gsatellite-demo.XXXXXXXX")
echo "demo \$HOME: $HOME"
gsatlcd --start
trap 'gsatlcd --stop >/dev/null 2>&1 || true' EXIT
gqsub "$here"/share/doc/examples/*.job
# Wait until nothing is queued or running any more.
while gqstat -s queued | tail -n +3 | grep -q . || gqstat -s running | tail -n +3 | grep -q .; do
	sleep 0.5
done
gqstat
echo
gqstat -f

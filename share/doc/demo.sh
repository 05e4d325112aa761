#!/usr/bin/env bash
# What gsatellite is for, in under a minute, in a throw-away $HOME: start the
# controller, submit jobs, follow one live with gqpeek, let a job trigger a
# user service, wait for a failing job with gqwait, show gqstat, stop.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$here/bin:$PATH"
export HOME GSAT_SLOTS=4
HOME=$(mktemp -d "${TMPDIR:-/tmp}/gsatellite-demo.XXXXXXXX")
examples=$here/share/doc/examples

if [[ -t 1 ]]; then
	say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
else
	say() { printf '\n# %s\n' "$*"; }
fi
run() { printf '$ %s\n' "$*"; "$@"; }

say "throw-away \$HOME: $HOME"
run gsatlcd --start
trap 'gsatlcd --stop >/dev/null 2>&1 || true; rm -rf "$HOME"' EXIT

say "a user service for the event STEP_DONE (jobs fire it with 'trigger')"
mkdir -p "$HOME/.gsatellite/services/onSTEP_DONE"
service=$HOME/.gsatellite/services/onSTEP_DONE/notify
cat >"$service" <<'SERVICE'
#!/bin/bash
echo "$(date +%T) job $GSAT_O_JOBID: step $GSAT_EVENT_ARGS done" >>"$HOME/notifications"
SERVICE
chmod 700 "$service"
printf '%s\n' "$service"

say "submit four jobs; gqsub prints their ids"
run gqsub "$examples"/succeed.job "$examples"/output.job "$examples"/fail.job "$examples"/progress.job
# The name is the last column: a queued job has no host yet.
progress=$(gqstat | awk '$NF == "progress" { print $2 }')

say "follow the progress job live; gqpeek -f stops when the job ends"
run gqpeek -f "$progress"

say "what the STEP_DONE service wrote, once per trigger"
run cat "$HOME/notifications"

say "gqwait blocks until fail.job ends and exits with its exit value"
fail=$(gqstat | awk '$NF == "fail.job" { print $2 }')
status=0
run gqwait "$fail" || status=$?
echo "gqwait exit value: $status"

say "wait for the rest, then the table of all jobs"
gqwait $(gqstat | awk 'NR > 2 { print $2 }') || true
run gqstat

say "and one job in detail"
run gqstat -f "$progress"

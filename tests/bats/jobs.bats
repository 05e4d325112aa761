#!/usr/bin/env bats
# The job commands against one controller: gqsub, gqstat, gqhold, gqrls,
# gqdel, gqsig, gqwait, gqpeek, gqclean, trigger, sendcmd.

setup_file() {
	load helper
	gsat_start
}

teardown_file() {
	load helper
	gsat_teardown
}

setup() {
	load helper
}

@test "gqsub prints exactly the job id" {
	run --separate-stderr gqsub "$(job ok.job 'echo hello; echo oops >&2')"
	[ "$status" -eq 0 ]
	[[ $output =~ ^[0-9]{5}$ ]]
	[ -z "$stderr" ]
	wait_state "$output" finished
}

@test "gqsub with several files prints one id per line, in order" {
	run --separate-stderr gqsub "$(job a.job true)" "$(job b.job true)"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "$((10#${lines[1]}))" -eq "$((10#${lines[0]} + 1))" ]
}

@test "gqsub of a missing file: exit 1, message, no id" {
	run --separate-stderr gqsub "$JOBS/missing.job"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ $stderr == gqsub:* ]]
}

@test "gqsub with an unknown option: usage, exit 64" {
	run --separate-stderr gqsub --bogus "$JOBS/a.job"
	[ "$status" -eq 64 ]
	[[ $stderr == *Usage:* ]]
}

@test "gqsub refuses a malformed directive and queues nothing" {
	# A script written for the new options (-N) gets the strict checks;
	# see docs/directives.md.
	before=$(gqstat | wc -l)
	run --separate-stderr gqsub "$(job bad.job $'#GSAT -N strict\n#GSAT -a not-a-date\ntrue')"
	[ "$status" -ne 0 ]
	[ -z "$output" ]
	[ -n "$stderr" ]
	[ "$(gqstat | wc -l)" -eq "$before" ]
}

@test "gqstat table: header, rule, one row per job" {
	id=$(gqsub "$(job named.job $'#GSAT -N contract\ntrue')")
	wait_state "$id" finished
	run --separate-stderr gqstat
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(printf '%12s %6s %24s %24s' job.state job.id job.execHost job.name)" ]
	[ "${lines[1]}" = "------------ ------ ------------------------ ------------------------" ]
	row=$(printf '%s\n' "${lines[@]}" | grep " $id ")
	[[ $row =~ ^finished\ +$id\ +[^\ ]+\ +contract\ *$ ]]
}

@test "gqstat -f ID: ATTR=\"VALUE\" lines in the classic order" {
	id=$(gqsub "$(job exit3.job 'exit 3')")
	wait_state "$id" failed
	run --separate-stderr gqstat -f "$id"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "job.id=\"$id\"" ]
	[ "${lines[1]}" = 'job.name="exit3.job"' ]
	[[ ${lines[2]} == job.dir=* ]]
	[ "${lines[3]}" = 'job.state="failed"' ]
	# Only the classic gqstat's eight lines; the new ones need -x.
	[ "${#lines[@]}" -eq 8 ]
	[[ ${lines[7]} == job.stop=* ]]
	run --separate-stderr gqstat -f "$id" -x
	[ "$status" -eq 0 ]
	printf '%s\n' "${lines[@]}" | grep -qx 'job.exit="3"'
	[ -n "${lines[-1]}" ]
}

@test "gqstat -s: filter, and the classic error for an unknown state" {
	run --separate-stderr gqstat -s failed
	[ "$status" -eq 0 ]
	for row in "${lines[@]:2}"; do [[ $row == failed* ]]; done
	run --separate-stderr gqstat -s bogus
	[ "$status" -eq 1 ]
	[ "$stderr" = "gqstat: Unknown job state -- 'bogus'." ]
}

@test "gqstat -t and --json" {
	run --separate-stderr gqstat -t nosuchtype
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	run --separate-stderr gqstat --json
	[ "$status" -eq 0 ]
	printf '%s' "$output" | python3 -c 'import json, sys; assert isinstance(json.load(sys.stdin), list)'
}

@test "gqwait exits with the job's exit value; unknown id: exit 1" {
	run --separate-stderr gqwait "$(gqsub "$(job exit7.job 'sleep 0.2; exit 7')")"
	[ "$status" -eq 7 ]
	run --separate-stderr gqwait 99999
	[ "$status" -eq 1 ]
	[[ $stderr == gqwait:* ]]
}

@test "gqwait --timeout: exit 124" {
	id=$(gqsub "$(job long.job 'sleep 60')")
	run --separate-stderr gqwait --timeout 0.3 "$id"
	[ "$status" -eq 124 ]
	gqsig -s KILL "$id"
	wait_state "$id" failed
}

@test "gqpeek prints stdout, -e stderr, -n the last lines" {
	id=$(gqsub "$(job peek.job $'echo one\necho two\necho bad >&2')")
	wait_state "$id" finished
	run --separate-stderr gqpeek "$id"
	[ "$status" -eq 0 ]
	[ "$output" = $'one\ntwo' ]
	run --separate-stderr gqpeek -e "$id"
	[ "$output" = "bad" ]
	run --separate-stderr gqpeek -n 1 "$id"
	[ "$output" = "two" ]
}

@test "gqpeek -f follows a running job and exits with its exit value" {
	id=$(gqsub "$(job follow.job $'echo start\nwhile [ ! -e go ]; do sleep 0.05; done\necho end\nexit 4')")
	wait_state "$id" running
	(wait_file "$G/gschedule/jobs/$id.d/job.stdout" && sleep 0.3 && touch "$G/gschedule/jobs/$id.d/jobtmp/go") &
	run --separate-stderr gqpeek -f "$id"
	wait
	[ "$status" -eq 4 ]
	[ "$output" = $'start\nend' ]
}

@test "gqhold, gqrls, gqdel are silent on success" {
	id=$(gqsub "$(job held.job $'#GSAT -a 2099-01-01T00:00\ntrue')")
	run --separate-stderr gqhold "$id"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	[ "$(state_of "$id")" = held ]
	run --separate-stderr gqrls "$id"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	[ "$(state_of "$id")" = queued ]
	run --separate-stderr gqdel "$id"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	[ ! -e "$G/gschedule/jobs/$id.d" ]
}

@test "gqrls of a job that is not held, gqdel of a running job: exit 1 with a message" {
	id=$(gqsub "$(job run.job 'sleep 60')")
	wait_state "$id" running
	run --separate-stderr gqrls "$id"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ -n "$stderr" ]
	run --separate-stderr gqdel "$id"
	[ "$status" -eq 1 ]
	[ -n "$stderr" ]
	gqsig -s KILL "$id"
	wait_state "$id" failed
}

@test "gqsig delivers the signal to the running job" {
	id=$(gqsub "$(job trap.job $'trap "echo got USR1; exit 0" USR1\ntouch ready\nwhile :; do sleep 0.05; done')")
	wait_file "$G/gschedule/jobs/$id.d/jobtmp/ready"
	run --separate-stderr gqsig -s USR1 "$id"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	wait_state "$id" finished
	[ "$(gqpeek "$id")" = "got USR1" ]
}

@test "gqsig: not running is exit 1, no id is exit 64" {
	run --separate-stderr gqsig 0
	[ "$status" -eq 1 ]
	[[ $stderr == gqsig:* ]]
	run --separate-stderr gqsig
	[ "$status" -eq 64 ]
}

@test "trigger inside a job runs the user's service with the event's arguments" {
	mkdir -p "$G/services/onSTEP_DONE"
	printf '#!/bin/bash\necho "$GSAT_EVENT $GSAT_EVENT_ARGS" >"%s"\n' "$BATS_FILE_TMPDIR/service.out" \
		>"$G/services/onSTEP_DONE/record"
	chmod 700 "$G/services/onSTEP_DONE/record"
	id=$(gqsub "$(job trig.job 'trigger --wait STEP_DONE one two')")
	run gqwait "$id"
	[ "$status" -eq 0 ]
	[ "$(<"$BATS_FILE_TMPDIR/service.out")" = "STEP_DONE one two" ]
	gqstat -f "$id" -x | grep -qx 'job.events="1"'
}

@test "sendcmd ALIVE? to the controller answers YES" {
	run --separate-stderr sendcmd -c 'ALIVE?' -m "$G/mboxes/$(<"$G/gsatlcHostName")/$(<"$G/gsatlcPid").inbox"
	[ "$status" -eq 0 ]
	[ "$output" = "YES" ]
}

@test "gqclean -n lists ended jobs, gqclean removes them, never a queued one" {
	queued=$(gqsub "$(job later.job $'#GSAT -a 2099-01-01T00:00\ntrue')")
	ended=$(gqstat -s finished | tail -n +3 | wc -l)
	[ "$ended" -gt 0 ]
	run --separate-stderr gqclean -n --state finished
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq "$ended" ]
	run --separate-stderr gqclean --state finished
	[ "$status" -eq 0 ]
	[ "$(gqstat -s finished | tail -n +3 | wc -l)" -eq 0 ]
	[ "$(state_of "$queued")" = queued ]
}

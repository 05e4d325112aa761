#!/usr/bin/env bats
# Without a controller: the classic message and exit 69; gqstat still works.

setup_file() {
	load helper
	gsat_home
	job sleep.job 'sleep 1' >/dev/null
}

setup() {
	load helper
}

@test "gqsub without a controller: exit 69 and the classic message" {
	run --separate-stderr gqsub "$JOBS/sleep.job"
	[ "$status" -eq 69 ]
	[ -z "$output" ]
	[ "$stderr" = "gqsub: gsatlc is not running. Start it with \`gsatlcd --start'." ]
}

@test "gqhold, gqrls, gqdel, gqsig without a controller: exit 69" {
	for cmd in gqhold gqrls gqdel gqsig; do
		run --separate-stderr "$cmd" 1
		[ "$status" -eq 69 ]
		[ "$stderr" = "$cmd: gsatlc is not running. Start it with \`gsatlcd --start'." ]
	done
}

@test "gqstat without a controller prints the empty table" {
	run --separate-stderr gqstat
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[1]}" = "------------ ------ ------------------------ ------------------------" ]
}

@test "trigger outside a job: exit 64" {
	run --separate-stderr trigger STEP
	[ "$status" -eq 64 ]
	[[ $stderr == trigger:* ]]
}

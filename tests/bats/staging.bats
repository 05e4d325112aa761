#!/usr/bin/env bats
# Small-file stage in / out through the commands (docs/staging.md):
# gqsub -i/-O, --stage-in/--stage-out, and what gqstat -f -x shows.

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

@test "gqsub --stage-in and --stage-out: the bytes go in and come out, before gqwait returns" {
	cd "$BATS_TEST_TMPDIR"
	printf 'line 1\nline 2' >input.txt
	id=$(gqsub --stage-in input.txt:batch --stage-out=result.txt "$(job copy.job 'tr a-z A-Z <batch >result.txt')")
	run gqwait "$id"
	[ "$status" -eq 0 ]
	[ "$(cat result.txt)" = $'LINE 1\nLINE 2' ]
	run --separate-stderr gqstat -f "$id" -x
	[[ $output == *'job.stageIn="batch"'* ]]
	[[ $output == *"job.stagedOut=\"result.txt -> $BATS_TEST_TMPDIR/result.txt\""* ]]
}

@test "gqsub -O never replaces a file: the copy gets a number" {
	cd "$BATS_TEST_TMPDIR"
	echo mine >r
	id=$(gqsub -O r "$(job r.job 'echo job >r')")
	gqwait "$id"
	[ "$(cat r)" = mine ]
	[ "$(cat r.1)" = job ]
}

@test "gqsub -i of a missing file: one line, exit 1, nothing queued" {
	before=$(cat "$G/gschedule/nextJobId")
	run --separate-stderr gqsub -i "$BATS_TEST_TMPDIR/nothing" "$(job x.job true)"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ $stderr == "gqsub: "*'stage-in file "'*'/nothing" not existing; nothing submitted.' ]]
	[ "$(cat "$G/gschedule/nextJobId")" = "$before" ]
}

@test "gqsub -i with a NAME that leaves the working directory is refused" {
	echo x >"$BATS_TEST_TMPDIR/f"
	run --separate-stderr gqsub -i "$BATS_TEST_TMPDIR/f:../f" "$(job y.job true)"
	[ "$status" -eq 1 ]
	[[ $stderr == "gqsub: invalid stage-in name '../f'"* ]]
}

@test "a missing stage-out file is shown by gqstat -f -x and the job's state is its exit value" {
	id=$(gqsub -O "nope:$BATS_TEST_TMPDIR/" "$(job n.job true)")
	gqwait "$id"
	[ "$(state_of "$id")" = finished ]
	run --separate-stderr gqstat -f "$id" -x
	[[ $output == *"job.stageOutError=\"stage-out of nope to $BATS_TEST_TMPDIR/ failed: missing; the file stays in "* ]]
}

@test "gqsub --help lists the stage options" {
	run --separate-stderr gsatctl --help
	[[ $output == *"-i, --stage-in file[:name]"* ]]
	[[ $output == *"-O, --stage-out file[:dest]"* ]]
}

#!/usr/bin/env bats
# gsatlcd: start, status, stop as a classic user sees them.

setup_file() {
	load helper
	gsat_home
}

teardown_file() {
	load helper
	gsat_teardown
}

setup() {
	load helper
}

@test "gsatlcd --status without a controller: exit 1, no output" {
	run --separate-stderr gsatlcd --status
	[ "$status" -eq 1 ]
	[ -z "$output" ]
}

@test "gsatlcd without arguments prints the classic usage and exits 1" {
	run --separate-stderr gsatlcd
	[ "$status" -eq 1 ]
	[ "$output" = "usage: gsatlcd {--start|--stop|--status}" ]
}

@test "gsatlcd --start returns once the controller answers" {
	run --separate-stderr gsatlcd --start
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -s "$G/gsatlcPid" ]
	[ -s "$G/gsatlcHostName" ]
}

@test "gsatlcd --start twice keeps the same controller" {
	pid=$(<"$G/gsatlcPid")
	run gsatlcd --start
	[ "$status" -eq 0 ]
	[ "$(<"$G/gsatlcPid")" = "$pid" ]
}

@test "gsatlcd --status prints hostname and PID lines" {
	run --separate-stderr gsatlcd --status
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "gsatlc hostname=\"$(<"$G/gsatlcHostName")\"" ]
	[ "${lines[1]}" = "gsatlc PID=\"$(<"$G/gsatlcPid")\"" ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "gsatlcd --stop stops it and removes its files" {
	pid=$(<"$G/gsatlcPid")
	run --separate-stderr gsatlcd --stop
	[ "$status" -eq 0 ]
	[ ! -e "$G/gsatlcPid" ]
	[ ! -e "$G/gsatlcHostName" ]
	run alive "$pid"
	[ "$status" -eq 1 ]
}

@test "gsatlcd --stop without a controller: exit 1 and a message on stderr" {
	run --separate-stderr gsatlcd --stop
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ $stderr == gsatlcd:* ]]
}

@test "gsatlcd --paths prints key=\"path\" lines of existing directories" {
	run --separate-stderr gsatlcd --paths
	[ "$status" -eq 0 ]
	[[ ${lines[0]} =~ ^commands=\"(.*)\"$ ]]
	[ -x "${BASH_REMATCH[1]}/gqsub" ]
}

# Shared by the .bats files: a temporary $HOME with a real controller,
# cleaned up by the PIDs written there (never by process name).
bats_require_minimum_version 1.5.0

gsat_home() {
	export HOME
	HOME=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/home.XXXXXX")
	export JOBS="$BATS_FILE_TMPDIR/jobs"
	mkdir -p "$JOBS"
	export G="$HOME/.gsatellite"
	# Several jobs run at once so that a sleeping job blocks no other case.
	export GSAT_SLOTS=8
}

gsat_start() {
	gsat_home
	gsatlcd --start
}

# Kill what runs in this $HOME: the controller, signal forwarders,
# supervisors and job process groups, by the PIDs in their files.
gsat_teardown() {
	local f pid
	[[ -n ${G:-} && -d $G ]] || return 0
	for f in "$G"/gschedule/jobs/*.d/job.pid; do
		[[ -f $f ]] && pid=$(<"$f") && [[ $pid =~ ^[0-9]+$ ]] && kill -KILL -- "-$pid" 2>/dev/null
	done
	for f in "$G"/gschedule/jobs/*.d/sputnik.pid; do
		[[ -f $f ]] && pid=$(<"$f") && [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null
	done
	for f in "$G"/gsatlcPid "$G"/var/run/*/sigfwd.pid; do
		[[ -f $f ]] && pid=$(<"$f") && [[ $pid =~ ^[0-9]+$ ]] && kill -TERM "$pid" 2>/dev/null && kill -CONT "$pid" 2>/dev/null
	done
	return 0
}

# job NAME BODY: an executable bash job script in $JOBS; prints its path.
job() {
	printf '#!/bin/bash\n%s\n' "$2" >"$JOBS/$1"
	chmod +x "$JOBS/$1"
	echo "$JOBS/$1"
}

state_of() {
	cat "$G/gschedule/jobs/$1.d/job.state" 2>/dev/null
}

# wait_state ID STATE...: until the job is in one of the states (30 s).
wait_state() {
	local id=$1 i s
	shift
	for ((i = 0; i < 600; i++)); do
		s=$(state_of "$id")
		for want in "$@"; do [[ $s == "$want" ]] && return 0; done
		sleep 0.05
	done
	echo "job $id is '$s', wanted $*" >&2
	return 1
}

# wait_file PATH: until it exists (30 s).
wait_file() {
	local i
	for ((i = 0; i < 600; i++)); do
		[[ -e $1 ]] && return 0
		sleep 0.05
	done
	echo "no $1 after 30 s" >&2
	return 1
}

# alive PID: the process exists and is not a zombie.
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# bash completion for the gsatellite commands.
#
# Load it from ~/.bashrc:   source "$(gsatlcd --paths | sed -n 's/^bash_completion="\(.*\)"$/\1/p')"
# Job ids come from the job store ($HOME/.gsatellite/gschedule/STATE/ID.d),
# only those that make sense for the command (running jobs for gqsig, held
# ones for gqrls, ...).  Checked by tests/unit/test_completion.py.

_gsat_states="queued running held finished failed"
_gsat_types="default gtransfer tgftp"

# Ids of the jobs in the given states, one per line.
_gsat_ids() {
	local store="$HOME/.gsatellite/gschedule" state link
	for state in "$@"; do
		for link in "$store/$state"/*.d; do
			[[ -e $link || -L $link ]] || continue
			link=${link##*/}
			printf '%s\n' "${link%.d}"
		done
	done
}

# Event names that have a service directory (trigger).
_gsat_events() {
	local d
	for d in "$HOME/.gsatellite/services"/on*/; do
		[[ -d $d ]] || continue
		d=${d%/}
		d=${d##*/on}
		case $d in JOB_START | JOB_TERMINATION) ;; *) printf '%s\n' "$d" ;; esac
	done
}

_gsat_reply() { # words...: COMPREPLY = those matching $cur
	local IFS=$'\n'
	COMPREPLY=($(compgen -W "$*" -- "$cur"))
}

_gsat_files() {
	local IFS=$'\n'
	compopt -o filenames 2>/dev/null
	COMPREPLY=($(compgen -f -- "$cur"))
}

# The shorthand's completion; $1 is the action (qsub, qhold, ...).
_gsat_action() {
	local action=$1
	case $action in
	qsub)
		case $prev in
		-T) _gsat_reply $_gsat_types; return ;;
		-m) _gsat_reply n a b e ab ae be abe; return ;;
		-W) _gsat_reply depend=afterok: depend=afterany: depend=afternotok:
			compopt -o nospace 2>/dev/null; return ;;
		-N | -M | -a) COMPREPLY=(); return ;;
		-o | -e | -i | -O | --stage-in | --stage-out | --proxy) _gsat_files; return ;;
		esac
		if [[ $cur == -* ]]; then
			_gsat_reply -T -N -o -e -m -M -a -W -i -O --stage-in --stage-out --proxy
		else
			_gsat_files
		fi
		;;
	qhold) _gsat_reply $(_gsat_ids queued running) ;;
	qrls) _gsat_reply $(_gsat_ids held) ;;
	qdel) _gsat_reply $(_gsat_ids queued held finished failed) ;;
	qwait)
		case $prev in --timeout | -t) COMPREPLY=(); return ;; esac
		if [[ $cur == -* ]]; then
			_gsat_reply --any --timeout
		else
			_gsat_reply $(_gsat_ids queued running held)
		fi
		;;
	esac
}

_gsatellite() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	local cmd=${COMP_WORDS[0]##*/}
	COMPREPLY=()
	case $cmd in
	gqsub | gqhold | gqrls | gqdel | gqwait)
		_gsat_action "${cmd#g}"
		;;
	gsatctl)
		if ((COMP_CWORD == 1)); then
			_gsat_reply -s --qsub -h --qhold -r --qrls -d --qdel -w --qwait --help -V --version
			return
		fi
		case ${COMP_WORDS[1]} in
		-s | --qsub) _gsat_action qsub ;;
		-h | --qhold) ((COMP_CWORD == 2)) && _gsat_action qhold ;;
		-r | --qrls) ((COMP_CWORD == 2)) && _gsat_action qrls ;;
		-d | --qdel) ((COMP_CWORD == 2)) && _gsat_action qdel ;;
		-w | --qwait) _gsat_action qwait ;;
		esac
		;;
	gqstat)
		case $prev in
		-s | --job-state) _gsat_reply $_gsat_states; return ;;
		-t | --job-type) _gsat_reply $_gsat_types; return ;;
		-f | --detailed-listing)
			[[ $cur != -* ]] && { _gsat_reply $(_gsat_ids $_gsat_states); return; } ;;
		esac
		_gsat_reply -f --detailed-listing -x --extended -s --job-state -t --job-type --json -V --version --help
		;;
	gqsig)
		case $prev in
		-s | --signal)
			_gsat_reply $(compgen -A signal) $(compgen -A signal | sed 's/^SIG//'); return ;;
		esac
		if [[ $cur == -* ]]; then
			_gsat_reply -s --signal --help -V --version
		else
			_gsat_reply $(_gsat_ids running)
		fi
		;;
	gqpeek)
		case $prev in -n | --run) COMPREPLY=(); return ;; esac
		if [[ $cur == -* ]]; then
			_gsat_reply -o -e -a -f -n --run --help -V --version
		else
			_gsat_reply $(_gsat_ids running queued held finished failed)
		fi
		;;
	gqclean)
		case $prev in
		--state) _gsat_reply finished failed; return ;;
		--older-than) _gsat_reply 1h 1d 7d 30d; return ;;
		esac
		_gsat_reply --older-than --state -n --dry-run --help -V --version
		;;
	trigger)
		case $prev in --job) _gsat_reply $(_gsat_ids running); return ;; esac
		local i
		for ((i = 1; i < COMP_CWORD; i++)); do
			# Past the event name: its arguments are the user's own.
			case ${COMP_WORDS[i]} in --job) ((i++)) ;; -*) ;; *) return ;; esac
		done
		if [[ $cur == -* ]]; then
			_gsat_reply --wait --job --help -V --version
		else
			_gsat_reply $(_gsat_events)
		fi
		;;
	gsatlcd)
		((COMP_CWORD == 1)) && _gsat_reply --start --stop --status --watch --install-cron --remove-cron --paths
		;;
	sendcmd)
		case $prev in
		-c | --command) _gsat_reply 'ALIVE?' 'PID?' 'HOST?' STOP; return ;;
		-m | --message-box)
			local boxes=("$HOME/.gsatellite/mboxes"/*/*.inbox)
			[[ -e ${boxes[0]} ]] || boxes=()
			_gsat_reply "${boxes[@]}"; return ;;
		--timeout) COMPREPLY=(); return ;;
		esac
		_gsat_reply -c --command -m --message-box --no-sigfwd --no-wait-for-answer --timeout --help -V --version
		;;
	gsatmail)
		case $prev in --maildir) COMPREPLY=($(compgen -d -- "$cur")); return ;; esac
		((COMP_CWORD == 1)) && _gsat_reply --maildir --init --help -V --version
		;;
	esac
}

complete -F _gsatellite gsatctl gqsub gqhold gqrls gqdel gqwait gqstat gqsig gqpeek gqclean trigger gsatlcd sendcmd gsatmail

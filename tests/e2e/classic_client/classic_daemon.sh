#!/bin/bash
# A stand-in for a classic gsatlc or sputnik, in shell tools only.  It
# answers as the classic processes answer: the verbs the classic controller
# knows (QSUB taking everything after "QSUB " as the job path, QHOLD, QRLS,
# QDEL, QSIG) or the classic sputnik knows (HOLD, SIGNAL), the standard
# ALIVE? PID? HOST? STOP, and UNKNOWN COMMAND to anything else.  It polls
# its box G/mboxes/HOST/$$.inbox and never sleeps stopped.  Every message it
# takes is appended to LOGFILE as one line.
#
# usage: classic_daemon.sh controller|sputnik G HOST LOGFILE
#   controller: writes G/gsatlcPid and G/gsatlcHostName and keeps gsatlcPid
#               young, as a live classic controller does; answers QSUB with
#               ids 00000, 00001, ... (it queues nothing).
#   sputnik:    only the box; a test names it in a job's sputnik.pid.
# It runs until its box is removed, STOP, or it is killed.
set -u
role=$1 g=$2 host=$3 logfile=$4
box=$g/mboxes/$host/$$.inbox
mkdir -p "$box"
if [[ $role == controller ]]; then
    echo "$host" > "$g/gsatlcHostName"
    echo "$$" > "$g/gsatlcPid"
fi
next_id=0

answer() {
    [[ -n $2 && -d $2 ]] || return
    local reply
    reply=$(mktemp -p "$2" .message.XXXXXXXX) || return
    echo "$1;$box" > "$reply"
    mv "$reply" "$2/$(basename "$reply" | cut -c2-)"
}

while [[ -d $box ]]; do
    [[ $role == controller ]] && touch "$g/gsatlcPid"
    next=$(ls -1 -c -r "$box"/message* 2>/dev/null | head -1)
    if [[ -z $next ]]; then
        sleep 0.05
        continue
    fi
    message=$(cat "$next")
    base=$(basename "$next")
    mv "$next" "$box/read.$base" && rm "$box/read.$base"
    printf '%s\n' "$message" >> "$logfile"
    command=${message%%;*}
    answerbox=${message#*;}
    case $role:$command in
        controller:QSUB*) answer "$(printf '%05d' $next_id)" "$answerbox"; next_id=$((next_id + 1)) ;;
        controller:QHOLD*|controller:QRLS*|controller:QDEL*|controller:QSIG*) answer OK "$answerbox" ;;
        sputnik:HOLD|sputnik:SIGNAL*) answer OK "$answerbox" ;;
        *:ALIVE\?) answer YES "$answerbox" ;;
        *:PID\?) answer "$$" "$answerbox" ;;
        *:HOST\?) answer "$host" "$answerbox" ;;
        *:STOP) answer STOPPING "$answerbox"; rm -rf "$box"; exit 0 ;;
        *) answer "UNKNOWN COMMAND" "$answerbox" ;;
    esac
done

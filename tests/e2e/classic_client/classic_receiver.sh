#!/bin/bash
# A classic receiver in shell tools only: it polls its box (it never sends
# or expects signals), takes the oldest message by ctime, consumes it
# (cat, mv to read.*, rm) and, when the message names an answer box,
# answers "GOT <command>;<its own box>" there with mktemp + mv.  Every
# message it takes is appended to LOGFILE as one line.
#
# usage: classic_receiver.sh BOX LOGFILE
# It runs until BOX is removed or it is killed.
set -u
box=$1 logfile=$2

while [[ -d $box ]]; do
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
    if [[ -n $answerbox && -d $answerbox ]]; then
        reply=$(mktemp -p "$answerbox" .message.XXXXXXXX) || continue
        echo "GOT $command;$box" > "$reply"
        rbase=$(basename "$reply")
        mv "$reply" "$answerbox/${rbase#.}"
    fi
done

#!/bin/bash
# A classic gsatellite client in shell tools only, as the bash 0.2 clients
# talk (mktemp, mv, kill -CONT, ls -c, cat).  It sends one request and
# prints the whole reply line, "ANSWER;SENDERBOX".
#
# usage: classic_request.sh HOSTBOXDIR TARGETBOX COMMAND [PID|-] [TIMEOUT]
#   HOSTBOXDIR  G/mboxes/HOST, where the temporary answer box is made
#   TARGETBOX   the receiver's box (an alias is resolved like the classic
#               sendMsg does: dirname + readlink)
#   PID         send SIGCONT to it after publishing; "-" sends no signal
#               (the signal forwarder polls its box)
#   TIMEOUT     seconds to poll for the answer (the classic clients wait
#               forever; a test must not) -> exit 3 when it expires
set -u
hostboxdir=$1 target=$2 command=$3 pid=${4:--} timeout=${5:-20}

answerbox=$(mktemp -d -p "$hostboxdir" XXXXXXXX) || exit 2
mv "$answerbox" "$answerbox.inbox" || exit 2
answerbox=$answerbox.inbox

if [[ -h $target ]]; then
    target="$(dirname "$target")/$(readlink "$target")"
fi
[[ -e $target ]] || { rm -rf "$answerbox"; exit 2; }

# Hidden while being written; the rename is the commit.
message=$(mktemp -p "$target" .message.XXXXXXXX) || { rm -rf "$answerbox"; exit 2; }
echo "$command;$answerbox" > "$message"
name=$(basename "$message")
mv "$message" "$target/${name#.}"

if [[ $pid != - ]]; then
    kill -CONT "$pid"
fi

# Poll like the classic receiver: oldest message by ctime.  A short sleep
# instead of the classic 0.5 s only keeps the test quick.
deadline=$(( SECONDS + timeout ))
while (( SECONDS <= deadline )); do
    touch -c "$answerbox" 2>/dev/null
    next=$(ls -1 -c -r "$answerbox"/message* 2>/dev/null | head -1)
    if [[ -n $next ]]; then
        reply=$(cat "$next")
        base=$(basename "$next")
        mv "$next" "$answerbox/read.$base" && rm "$answerbox/read.$base"
        rm -rf "$answerbox"
        printf '%s\n' "$reply"
        exit 0
    fi
    sleep 0.05
done
rm -rf "$answerbox"
exit 3

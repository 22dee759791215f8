#!/usr/bin/env bash
# A supervised call over RTP (G.711 µ-law, 8 kHz, 20 ms packets) on this
# machine. Three "phones" (customer, agent, supervisor) send RTP to the call
# server; the server mixes with callbarge and sends each party what it hears.
# The supervisor starts in listen mode, presses 5 to whisper to the agent
# (the customer does not hear it), then 6 to barge in; gst-launch -m prints
# every callbarge-mode message. What each party hears is also written to
# $OUT/heard-by-<party>.wav.
#   usage: pipelines/supervised-call.sh [customer.wav agent.wav supervisor.wav]
# Without arguments the customer is the scene's caller, the agent the scene's
# prompt voice, and the supervisor's phone is made with espeak-ng and sox.
# Runs as long as the longest phone's audio: each server input stops
# (num-buffers) after its phone's packets.
. "$(dirname "$0")/common.sh"

# Server ports (phones send there) and phone ports (the server sends there).
CUSTOMER_PORT=${CUSTOMER_PORT:-5110}
AGENT_PORT=${AGENT_PORT:-5112}
SUPERVISOR_PORT=${SUPERVISOR_PORT:-5114}
CUSTOMER_PHONE_PORT=${CUSTOMER_PHONE_PORT:-5120}
AGENT_PHONE_PORT=${AGENT_PHONE_PORT:-5122}
SUPERVISOR_PHONE_PORT=${SUPERVISOR_PHONE_PORT:-5124}

key() { # key.wav f1 f2: a 150 ms DTMF key press
    sox -n -r 8000 -c 1 -b 16 "$1" synth 0.15 sine "$2" sine "$3" channels 1 vol 0.4
}
if [ $# -ge 3 ]; then
    customer=$1 agent=$2 supervisor=$3
else
    customer=$SCENE/caller.wav agent=$SCENE/prompt.wav supervisor=$OUT/supervisor.wav
    tmp=$(mktemp -d)
    key "$tmp/k5.wav" 770 1336
    key "$tmp/k6.wav" 770 1477
    espeak-ng -v en-us+m3 -w "$tmp/w.wav" "Offer the loyalty discount."
    espeak-ng -v en-us+m3 -w "$tmp/b.wav" "Hello, this is the supervisor."
    for f in w b; do sox "$tmp/$f.wav" -r 8000 -c 1 -b 16 "$tmp/$f-8k.wav" norm -6; done
    # listen for 1 s, press 5, whisper, press 6, talk to both.
    sox -n -r 8000 -c 1 -b 16 "$tmp/s1.wav" trim 0 1
    sox -n -r 8000 -c 1 -b 16 "$tmp/s3.wav" trim 0 0.3
    sox "$tmp/s1.wav" "$tmp/k5.wav" "$tmp/s3.wav" "$tmp/w-8k.wav" "$tmp/s3.wav" \
        "$tmp/k6.wav" "$tmp/s3.wav" "$tmp/b-8k.wav" "$supervisor"
    rm -rf "$tmp"
fi

fmt="audio/x-raw,format=S16LE,rate=8000,channels=1"
pcmu="application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0"
pay="mulawenc ! rtppcmupay min-ptime=20000000 max-ptime=20000000"
# A sender is async=false: in a pipeline that also receives RTP, an async sink
# would wait for a preroll that only its own packets could bring.
send="async=false host=127.0.0.1"

# Packets a phone sends (20 ms each), less a few so its server input surely
# gets them all before it stops.
packets() { echo $(( $(soxi -s "$1") * 50 / $(soxi -r "$1") - 5 )); }

desc=(callbarge name=call mode=listen dtmf-control=true)
for party in customer agent supervisor; do
    case $party in
        customer) wav=$customer port=$CUSTOMER_PORT phone=$CUSTOMER_PHONE_PORT ;;
        agent) wav=$agent port=$AGENT_PORT phone=$AGENT_PHONE_PORT ;;
        supervisor) wav=$supervisor port=$SUPERVISOR_PORT phone=$SUPERVISOR_PHONE_PORT ;;
    esac
    desc+=(
        # The party's phone: its microphone (a file, played in real time) as RTP.
        filesrc location="$wav" ! wavparse ! audioconvert ! audioresample ! "$fmt"
            ! identity sync=true ! $pay ! udpsink $send port="$port"
        # The call server receives it into the party's pad…
        udpsrc address=127.0.0.1 port="$port" caps="$pcmu" num-buffers="$(packets "$wav")"
            ! rtpjitterbuffer latency=40 ! rtppcmudepay ! mulawdec ! "call.$party"
        # …and sends the party what it hears, keeping a recording of it.
        "call.to_$party" ! tee name="t_$party"
        "t_$party." ! queue ! audioconvert ! "$fmt" ! $pay ! udpsink $send port="$phone"
        "t_$party." ! queue ! audioconvert ! "$fmt" ! wavenc
            ! filesink location="$OUT/heard-by-$party.wav"
    )
done

gst-launch-1.0 -m "${desc[@]}" | { grep -E "callbarge-mode|ERROR|WARNING" || true; }

#!/usr/bin/env bash
# A telephony voice bot over RTP, G.711 µ-law at 8 kHz (PCMU, payload 0).
# It receives the caller on UDP port $IN_PORT, plays its prompt to
# $PEER_HOST:$OUT_PORT, and stops the prompt when the caller barges in.
# Try it against pipelines/rtp-caller.sh on the same machine. It runs until
# interrupted (Ctrl-C), as a bot does; the caller's side may come and go.
# `fakesink async=false`: the detector's sink gets nothing until a caller
# sends audio, and must not hold the pipeline out of PLAYING meanwhile.
#   usage: pipelines/rtp-g711-bot.sh [prompt.wav]
. "$(dirname "$0")/common.sh"
prompt=${1:-$SCENE/prompt.wav}
IN_PORT=${IN_PORT:-5004}
OUT_PORT=${OUT_PORT:-5006}
PEER_HOST=${PEER_HOST:-127.0.0.1}
fmt="audio/x-raw,format=S16LE,rate=8000,channels=1"
rtp="application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0"

exec gst-launch-1.0 -m \
    filesrc location="$prompt" ! wavparse ! audioconvert ! audioresample ! "$fmt" \
        ! identity sync=true ! ttsducker ! tee name=t \
    t. ! queue ! mulawenc ! rtppcmupay ! udpsink host="$PEER_HOST" port="$OUT_PORT" \
    t. ! queue ! aec.far_sink \
    udpsrc port="$IN_PORT" caps="$rtp" ! rtpjitterbuffer latency=40 ! rtppcmudepay ! mulawdec \
        ! audioconvert ! "$fmt" ! aec.sink \
    bargeinaec name=aec ! bargeinvad ! fakesink async=false

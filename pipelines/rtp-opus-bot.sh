#!/usr/bin/env bash
# The same bot with Opus at 48 kHz (wideband WebRTC/SIP calls).
# See rtp-g711-bot.sh for the ports and why the detector's sink is async=false.
# Run pipelines/rtp-caller.sh with CODEC=opus against it.
#   usage: pipelines/rtp-opus-bot.sh [prompt.wav]
. "$(dirname "$0")/common.sh"
prompt=${1:-$SCENE/prompt.wav}
IN_PORT=${IN_PORT:-5004}
OUT_PORT=${OUT_PORT:-5006}
PEER_HOST=${PEER_HOST:-127.0.0.1}
fmt="audio/x-raw,format=S16LE,rate=48000,channels=1"
rtp="application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96"

exec gst-launch-1.0 -m \
    filesrc location="$prompt" ! wavparse ! audioconvert ! audioresample ! "$fmt" \
        ! identity sync=true ! ttsducker ! tee name=t \
    t. ! queue ! opusenc ! rtpopuspay ! udpsink host="$PEER_HOST" port="$OUT_PORT" \
    t. ! queue ! aec.far_sink \
    udpsrc port="$IN_PORT" caps="$rtp" ! rtpjitterbuffer latency=40 ! rtpopusdepay ! opusdec \
        ! audioconvert ! audioresample ! "$fmt" ! aec.sink \
    bargeinaec name=aec ! bargeinvad ! fakesink async=false

#!/usr/bin/env bash
# The caller's side for the RTP bots: sends caller.wav as PCMU (or Opus with
# CODEC=opus) to the bot and records what it receives to $OUT/received.wav.
# Each side only gets data once the other plays, so no sink may wait for its
# first buffer before the pipeline plays (async=false). Stop it with Ctrl-C:
# -e then finishes the WAV file.
#   usage: pipelines/rtp-caller.sh
. "$(dirname "$0")/common.sh"
BOT_PORT=${BOT_PORT:-5004}
LISTEN_PORT=${LISTEN_PORT:-5006}
BOT_HOST=${BOT_HOST:-127.0.0.1}
if [ "${CODEC:-pcmu}" = opus ]; then
    enc="audioresample ! audio/x-raw,rate=48000 ! opusenc ! rtpopuspay"
    rtp="application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96"
    dec="rtpopusdepay ! opusdec"
else
    enc="audioresample ! audio/x-raw,rate=8000 ! mulawenc ! rtppcmupay"
    rtp="application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0"
    dec="rtppcmudepay ! mulawdec"
fi
exec gst-launch-1.0 -e \
    filesrc location="$SCENE/caller.wav" ! wavparse ! audioconvert ! identity sync=true \
        ! $enc ! udpsink host="$BOT_HOST" port="$BOT_PORT" async=false \
    udpsrc port="$LISTEN_PORT" caps="$rtp" timeout=3000000000 ! rtpjitterbuffer ! $dec \
        ! audioconvert ! audio/x-raw,channels=1 ! wavenc ! filesink location="$OUT/received.wav" async=false

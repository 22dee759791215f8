#!/usr/bin/env bash
# Live: a prompt plays on the loudspeaker while the microphone listens; speak
# over it and the prompt ducks, then stops. Use headphones off (the echo
# canceller is what lets this work on a loudspeaker).
#   usage: pipelines/live-mic-speaker.sh [prompt.wav]
#   MIC / SPEAKER override the devices (the tests use audiotestsrc/fakesink).
. "$(dirname "$0")/common.sh"
prompt=${1:-$SCENE/prompt.wav}
MIC=${MIC:-autoaudiosrc}
SPEAKER=${SPEAKER:-autoaudiosink}
fmt="audio/x-raw,format=S16LE,rate=16000,channels=1"

gst-launch-1.0 -m \
    filesrc location="$prompt" ! wavparse ! audioconvert ! audioresample ! "$fmt" \
        ! identity sync=true ! ttsducker ! tee name=t \
    t. ! queue ! audioconvert ! audioresample ! $SPEAKER \
    t. ! queue ! aec.far_sink \
    $MIC ! audioconvert ! audioresample ! "$fmt" ! aec.sink \
    bargeinaec name=aec ! bargeinvad ! fakesink

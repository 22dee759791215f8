#!/usr/bin/env bash
# Echo cancellation and barge-in detection on recordings: far.wav is what the
# machine played, mic.wav what the microphone heard. Prints the detector's
# messages (-m) and writes the echo-cancelled microphone.
#   usage: pipelines/file-to-file.sh [far.wav mic.wav out.wav]
. "$(dirname "$0")/common.sh"
far=${1:-$SCENE/prompt.wav}
mic=${2:-$SCENE/mic.wav}
out=${3:-$OUT/cleaned.wav}
fmt="audio/x-raw,format=F32LE,rate=16000,channels=1"

# Any rate or format goes in: audioconvert/audioresample bring both inputs to
# one of the rates bargeinaec runs at (8, 16, 32 or 48 kHz).
gst-launch-1.0 -m \
    filesrc location="$far" ! wavparse ! audioconvert ! audioresample ! "$fmt" ! aec.far_sink \
    filesrc location="$mic" ! wavparse ! audioconvert ! audioresample ! "$fmt" ! aec.sink \
    bargeinaec name=aec ! bargeinvad ! audioconvert ! wavenc ! filesink location="$out"
echo "wrote $out"

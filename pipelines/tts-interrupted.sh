#!/usr/bin/env bash
# A recorded interruption stops a TTS prompt. The prompt goes through
# ttsducker to the "loudspeaker" (here a WAV file of what the caller heard)
# and to the echo canceller's reference; the recorded microphone has the
# caller saying "Customer service" over it. The detector's decision travels
# upstream to the ducker, which ducks, then stops the prompt; the
# tts-interrupted message says how much of the prompt the caller heard.
#   usage: pipelines/tts-interrupted.sh
. "$(dirname "$0")/common.sh"
fmt="audio/x-raw,format=F32LE,rate=16000,channels=1"
# Queues of two buffers keep the prompt at most a few ms ahead of the
# microphone, like a loudspeaker's buffer, while running faster than real time.
q="queue max-size-buffers=2 max-size-bytes=0 max-size-time=0"

gst-launch-1.0 -m \
    filesrc location="$SCENE/prompt.wav" ! wavparse ! audioconvert ! audioresample ! "$fmt" \
        ! audiobuffersplit output-buffer-duration=1/100 ! ttsducker ! tee name=t \
    t. ! $q ! audioconvert ! audio/x-raw,format=S16LE ! filesink location="$OUT/heard.raw" \
    t. ! $q ! aec.far_sink \
    filesrc location="$SCENE/mic.wav" ! wavparse ! audioconvert ! audioresample ! "$fmt" \
        ! audiobuffersplit output-buffer-duration=1/100 ! aec.sink \
    bargeinaec name=aec ! bargeinvad ! fakesink \
    | grep -E "bargein|tts-" || true
# Raw PCM, then WAV: the stop flushes downstream, which a wavenc in the
# branch would not survive (it rewrites its header on flush).
sox -t raw -r 16000 -e signed -b 16 -c 1 "$OUT/heard.raw" "$OUT/heard.wav"
echo "wrote $OUT/heard.wav (what the caller heard)"

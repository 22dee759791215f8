#!/usr/bin/env bash
# "Press 1" interrupts too: keypad tones on the microphone are detected
# (Goertzel) and posted as bargein-dtmf plus a confirmed bargein with
# source=dtmf, at once, while the prompt plays.
#   usage: pipelines/dtmf.sh [digits]
. "$(dirname "$0")/common.sh"
digits=${1:-1}
keys=$OUT/dtmf-keys.wav
# Standard DTMF pairs, 120 ms tones (a short key press), 100 ms apart, after 2 s
# (the echo canceller has converged by then; see the README about earlier keys).
args=()
for ((i = 0; i < ${#digits}; i++)); do
    case ${digits:i:1} in
        1) f="697 1209" ;; 2) f="697 1336" ;; 3) f="697 1477" ;; A) f="697 1633" ;;
        4) f="770 1209" ;; 5) f="770 1336" ;; 6) f="770 1477" ;; B) f="770 1633" ;;
        7) f="852 1209" ;; 8) f="852 1336" ;; 9) f="852 1477" ;; C) f="852 1633" ;;
        '*') f="941 1209" ;; 0) f="941 1336" ;; '#') f="941 1477" ;; D) f="941 1633" ;;
        *) echo "not a DTMF key: ${digits:i:1}" >&2; exit 2 ;;
    esac
    set -- $f
    sox -n -r 8000 -c 1 -b 16 "$OUT/k$i.wav" synth 0.12 sine "$1" sine "$2" channels 1 vol 0.4 pad 0 0.1
    args+=("$OUT/k$i.wav")
done
sox -n -r 8000 -c 1 -b 16 "$OUT/lead.wav" trim 0 2
sox "$OUT/lead.wav" "${args[@]}" "$keys"
fmt="audio/x-raw,format=S16LE,rate=8000,channels=1"

gst-launch-1.0 -m \
    filesrc location="$SCENE/prompt.wav" ! wavparse ! audioconvert ! audioresample ! "$fmt" ! aec.far_sink \
    filesrc location="$keys" ! wavparse ! audioconvert ! "$fmt" ! aec.sink \
    bargeinaec name=aec ! bargeinvad ! fakesink \
    | grep -E "bargein-dtmf|bargein," || true

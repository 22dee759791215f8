#!/usr/bin/env python3
"""A small IVR bot in Python (PyGObject) that a caller can interrupt.

The application owns the dialogue: it streams its prompt sentence by sentence
into an appsrc with a `tts-mark` event before each sentence, listens to the
detector's bus messages, and drives `ttsducker` through its action signals
(`interrupt`, `release`, `reset`) instead of letting the detector's upstream
events do it — the pattern for applications whose policy lives in code.

The caller is simulated: `caller.wav` is mixed with the prompt's echo into the
microphone path, as a loudspeaker in a room would.

    GST_PLUGIN_PATH=target/release /usr/bin/python3 examples/ivr_bot.py \
        --caller out/scene/caller.wav

Exit status 0 when the prompt was interrupted; prints what the caller heard.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import wave

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

RATE = 16000
CHUNK = RATE // 100  # 10 ms

PROMPT = [
    "Welcome to ABC Bank.",
    "For account balance, press 1.",
    "For recent transactions, press 2.",
    "For credit card services, press 3.",
]


def synthesize(text, path):
    """espeak-ng at 22.05 kHz, converted to 16 kHz s16 mono by sox."""
    raw = path + ".raw.wav"
    subprocess.run(["espeak-ng", "-v", "en-us+f3", "-w", raw, text], check=True)
    subprocess.run(["sox", raw, "-r", str(RATE), "-c", "1", "-b", "16", path], check=True)
    os.unlink(raw)
    with wave.open(path, "rb") as w:
        return w.readframes(w.getnframes())


def mark(text, new_utterance):
    s = Gst.Structure.new_empty("tts-mark")
    s.set_value("text", text)
    s.set_value("new-utterance", new_utterance)
    return Gst.Event.new_custom(Gst.EventType.CUSTOM_DOWNSTREAM, s)


class Bot:
    def __init__(self, caller_wav, echo_gain):
        caps = f"audio/x-raw,format=S16LE,rate={RATE},channels=1,layout=interleaved"
        q = "queue max-size-buffers=2 max-size-bytes=0 max-size-time=0"
        self.pipeline = Gst.parse_launch(
            f"appsrc name=tts format=time block=true max-bytes=640 caps={caps} "
            f"  ! ttsducker name=ducker ! tee name=t "
            f"t. ! {q} ! fakesink sync=false "
            f"t. ! {q} ! aec.far_sink "
            # The loudspeaker's echo reaches the microphone, mixed with the caller.
            f"t. ! {q} ! volume volume={echo_gain} ! mix.sink_0 "
            f"filesrc location={caller_wav} ! wavparse ! audioconvert ! audioresample "
            f"  ! {caps} ! mix.sink_1 "
            f"audiomixer name=mix ! bargeinaec name=aec "
            # The application routes decisions itself.
            f"  ! bargeinvad name=vad send-events=false ! fakesink sync=false"
        )
        self.tts = self.pipeline.get_by_name("tts")
        self.ducker = self.pipeline.get_by_name("ducker")
        self.loop = GLib.MainLoop()
        self.interrupted = None
        self.events = []
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self.on_message)

    def on_message(self, _bus, msg):
        t = msg.type
        if t == Gst.MessageType.EOS:
            self.loop.quit()
        elif t == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print(f"error: {err.message} ({dbg})", file=sys.stderr)
            self.loop.quit()
        elif t == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            name = s.get_name()
            if name == "bargein":
                stage = s.get_value("stage")
                onset = s.get_value("onset") / Gst.SECOND
                print(f"[{onset:6.3f} s] barge-in {stage} ({s.get_value('source')})")
                # Our policy: duck on tentative, stop on confirmed.
                self.ducker.emit("interrupt", stage)
            elif name == "bargein-release":
                print("             false alarm: restoring the prompt")
                self.ducker.emit("release")
            elif name == "tts-interrupted":
                self.interrupted = s.get_value("heard-text")
                played = s.get_value("played") / Gst.SECOND
                print(
                    f"             prompt {s.get_value('action')} after {played:.2f} s; "
                    f"heard: \"{self.interrupted}\""
                )
            self.events.append(name)

    def feed(self, sentences):
        """Streams the prompt in 10 ms chunks from a worker thread."""
        import threading

        def run():
            pts = 0
            for i, pcm in enumerate(sentences):
                self.tts.send_event(mark(PROMPT[i], i == 0))
                for off in range(0, len(pcm), CHUNK * 2):
                    chunk = pcm[off : off + CHUNK * 2]
                    buf = Gst.Buffer.new_wrapped(chunk)
                    n = len(chunk) // 2
                    buf.pts = pts * Gst.SECOND // RATE
                    buf.duration = n * Gst.SECOND // RATE
                    pts += n
                    if self.tts.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                        return
            self.tts.emit("end-of-stream")

        threading.Thread(target=run, daemon=True).start()

    def run(self, sentences):
        self.pipeline.set_state(Gst.State.PLAYING)
        self.feed(sentences)
        GLib.timeout_add_seconds(60, self.loop.quit)
        self.loop.run()
        self.pipeline.set_state(Gst.State.NULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--caller", required=True, help="WAV of the caller (speech over the prompt)")
    ap.add_argument("--echo-gain", type=float, default=0.5)
    args = ap.parse_args()
    Gst.init(None)
    if Gst.ElementFactory.find("ttsducker") is None:
        print("bargein plugin not found: set GST_PLUGIN_PATH=target/release", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        sentences = [synthesize(t, os.path.join(tmp, f"s{i}.wav")) for i, t in enumerate(PROMPT)]
    bot = Bot(args.caller, args.echo_gain)
    bot.run(sentences)
    if bot.interrupted is None:
        print("the prompt played to the end: no interruption")
        return 1
    print(f"caller heard: \"{bot.interrupted}\"")
    return 0


if __name__ == "__main__":
    sys.exit(main())

//! The closed loop of issue 6: the ducker's output is the loudspeaker whose
//! echo reaches the microphone. Behaviour only — the latency numbers belong
//! to `cargo bench --bench latency` and the README, not to timed asserts.

mod common;

use common::closed_loop::{self, Kind, Near, RATE, secs};
use common::*;

#[test]
fn caller_stops_the_prompt_and_the_echo_goes_with_it() {
    init();
    // A quiet room (SNR 30 dB) with the caller as loud as the echo.
    let g = closed_loop::generate(2, Near::Speech, 0.0, 30.0);
    let onset = g.onset.expect("onset");
    let run = closed_loop::run(&g.scene).expect("closed loop runs");
    let stopped = run.acted(true).expect("the prompt was never stopped");
    let ducked = run.acted(false).expect("the prompt was never ducked first");
    println!(
        "{}: ducked {:+.0} ms, stopped {:+.0} ms from the onset",
        g.description,
        (secs(ducked) - secs(onset)) * 1e3,
        (secs(stopped) - secs(onset)) * 1e3
    );
    assert!(
        ducked >= onset && ducked <= stopped,
        "ducked at {ducked}, onset {onset}"
    );
    assert!(
        stopped < onset + gst::ClockTime::from_mseconds(1500),
        "stopped only at {stopped} (onset {onset})"
    );
    // After the stop (and the ducker's short ramp) the caller hears nothing
    // more of the prompt, although the prompt had more to say.
    let after = (secs(stopped) * f64::from(RATE)) as usize + RATE as usize / 20;
    let rest_of_prompt = &g.scene.prompt[after..];
    assert!(rms(rest_of_prompt) > 0.01, "scene too short to tell");
    let heard_after = rms(&run.heard[after..after + rest_of_prompt.len()]);
    assert!(
        heard_after < 1e-3,
        "prompt still heard after the stop: rms {heard_after}"
    );
    // And so its echo left the microphone: the mic then holds the caller
    // and room noise only.
    assert_eq!(
        run.events
            .iter()
            .filter(|e| e.kind == Kind::Confirmed)
            .count(),
        1,
        "one barge-in, one confirmation: {:?}",
        run.events
    );
    assert!(run.heard_text.is_some());
    // The detector's probability was traced for the timeline picture.
    assert!(run.probability.iter().any(|&(_, p)| p > 0.9));
}

#[test]
fn the_prompts_own_echo_does_not_interrupt_it_in_a_quiet_room() {
    init();
    let g = closed_loop::generate(1000, Near::Nothing, 0.0, 30.0);
    let run = closed_loop::run(&g.scene).expect("closed loop runs");
    assert!(
        run.acted(true).is_none(),
        "the prompt's echo stopped it: {:?}",
        run.events
    );
    // The whole prompt was played.
    let n = g.scene.prompt.len().min(run.heard.len());
    let corr = correlation(&run.heard[..n], &g.scene.prompt[..n]);
    assert!(corr > 0.99, "prompt altered (correlation {corr:.3})");
}

#[test]
fn a_cough_ducks_the_prompt_and_it_comes_back() {
    init();
    // Later in the call (the canceller has converged), the caller coughs.
    let g = closed_loop::generate_with(2000, Near::Cough, 0.0, 30.0, true);
    let cough = g.onset.expect("cough onset");
    let run = closed_loop::run(&g.scene).expect("closed loop runs");
    assert!(
        run.acted(true).is_none(),
        "a cough stopped the prompt: {:?}",
        run.events
    );
    // The fast path ducked at once, before the model could have decided...
    let ducked = run.acted(false).expect("the cough did not duck the prompt");
    assert!(
        ducked >= cough && ducked < cough + gst::ClockTime::from_mseconds(300),
        "ducked at {ducked}, cough at {cough}: {:?}",
        run.events
    );
    // ...and the prompt came back.
    let resumed = run
        .first(&Kind::Resumed)
        .expect("the prompt never came back");
    assert!(resumed > ducked, "{:?}", run.events);
    let at = |t: gst::ClockTime| (secs(t) * f64::from(RATE)) as usize;
    let (d, r) = (at(ducked), at(resumed));
    // Ducked: the caller heard the prompt attenuated, then at full level.
    let (lo, hi) = (d + RATE as usize / 100, r);
    assert!(
        hi > lo + RATE as usize / 20,
        "duck too short: {:?}",
        run.events
    );
    let prompt_during = rms(&g.scene.prompt[lo..hi]);
    assert!(prompt_during > 0.01, "the prompt was silent then");
    let during = rms(&run.heard[lo..hi]);
    assert!(
        during < prompt_during * 0.3,
        "not ducked: {during} vs {prompt_during}"
    );
    let after = r + RATE as usize / 2;
    let n = RATE as usize;
    let corr = correlation(
        &run.heard[after..after + n],
        &g.scene.prompt[after..after + n],
    );
    assert!(corr > 0.99, "prompt not restored (correlation {corr:.3})");
}

#[test]
fn without_the_fast_path_a_cough_does_not_duck() {
    init();
    // The same scene with `onset-db=0`: the model alone never took the
    // cough for speech, so the duck above came from the fast path.
    let mut g = closed_loop::generate_with(2000, Near::Cough, 0.0, 30.0, true);
    g.scene.vad_props = vec![("onset-db", "0".to_string())];
    let run = closed_loop::run(&g.scene).expect("closed loop runs");
    assert!(run.acted(false).is_none(), "{:?}", run.events);
    assert!(run.acted(true).is_none(), "{:?}", run.events);
}

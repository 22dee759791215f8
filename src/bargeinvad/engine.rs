//! Speech probability engines. Silero VAD v6 runs in pure Rust on tract; the
//! trait keeps room for others (onnxruntime, a cheaper detector).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use tract_onnx::prelude::*;

/// Rate every engine works at; the element resamples to it.
pub const ENGINE_RATE: u32 = 16000;

/// A voice activity detector fed fixed-size frames at 16 kHz.
pub trait VadEngine: Send {
    /// Samples per frame at 16 kHz.
    fn frame_len(&self) -> usize;
    /// Speech probability of the next frame (samples in [-1, 1]).
    fn process(&mut self, frame: &[f32]) -> Result<f32, String>;
    /// Forget the past (new stream).
    fn reset(&mut self);
}

const SILERO_FRAME: usize = 512;
const SILERO_CONTEXT: usize = 64;
const SILERO_STATE: usize = 2 * 128;
pub const MODEL_FILE: &str = "silero_vad_openvino_16k.onnx";

type Plan = Arc<TypedRunnableModel>;

/// Optimised plans by model path: loading takes tens of ms, so every element
/// instance of the process shares one; each keeps its own recurrent state.
static PLANS: LazyLock<Mutex<HashMap<PathBuf, Plan>>> = LazyLock::new(Default::default);

/// Where the model is looked for when the `model-path` property is empty:
/// `$BARGEIN_SILERO_MODEL`, then the set-up script's cache.
pub fn default_model_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BARGEIN_SILERO_MODEL").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("BARGEIN_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("gst-bargein"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gst-bargein"))
        })?;
    Some(cache.join("models").join(MODEL_FILE))
}

fn load_plan(path: &Path) -> Result<Plan, String> {
    if let Some(p) = PLANS.lock().unwrap().get(path) {
        return Ok(p.clone());
    }
    let plan = tract_onnx::onnx()
        .model_for_path(path)
        .and_then(|m| m.with_input_fact(0, f32::fact([1, SILERO_CONTEXT + SILERO_FRAME]).into()))
        .and_then(|m| m.with_input_fact(1, f32::fact([2, 1, 128]).into()))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| format!("{e:#}"))?;
    PLANS
        .lock()
        .unwrap()
        .insert(path.to_path_buf(), plan.clone());
    Ok(plan)
}

/// Silero VAD v6 (the `openvino_16k` ONNX export, whose fixed shapes tract
/// can analyse): 512 new samples plus 64 of context, and a recurrent state.
pub struct Silero {
    plan: Plan,
    input: Tensor,
    state: Tensor,
    context: [f32; SILERO_CONTEXT],
}

impl Silero {
    pub fn load(path: &Path) -> Result<Self, String> {
        let plan = load_plan(path)?;
        let mut engine = Self {
            plan,
            input: Tensor::zero::<f32>(&[1, SILERO_CONTEXT + SILERO_FRAME])
                .map_err(|e| e.to_string())?,
            state: Tensor::zero::<f32>(&[2, 1, 128]).map_err(|e| e.to_string())?,
            context: [0.0; SILERO_CONTEXT],
        };
        // Fail at start-up, not on the first frame, if the file is not Silero.
        engine.process(&[0.0; SILERO_FRAME])?;
        engine.reset();
        Ok(engine)
    }
}

impl VadEngine for Silero {
    fn frame_len(&self) -> usize {
        SILERO_FRAME
    }

    fn process(&mut self, frame: &[f32]) -> Result<f32, String> {
        if frame.len() != SILERO_FRAME {
            return Err(format!(
                "Silero needs {SILERO_FRAME} samples, got {}",
                frame.len()
            ));
        }
        {
            let mut view = self
                .input
                .to_plain_array_view_mut::<f32>()
                .map_err(|e| e.to_string())?;
            let buf = view
                .as_slice_mut()
                .ok_or("input tensor is not contiguous")?;
            let (ctx, new) = buf.split_at_mut(SILERO_CONTEXT);
            ctx.copy_from_slice(&self.context);
            for (d, s) in new.iter_mut().zip(frame) {
                *d = s.clamp(-1.0, 1.0);
            }
        }
        self.context
            .copy_from_slice(&frame[SILERO_FRAME - SILERO_CONTEXT..]);
        let out = self
            .plan
            .run(tvec!(self.input.clone().into(), self.state.clone().into()))
            .map_err(|e| format!("{e:#}"))?;
        let prob = out
            .first()
            .and_then(|t| t.to_plain_array_view::<f32>().ok()?.iter().next().copied())
            .ok_or("Silero gave no probability")?;
        if let Some(state) = out.get(1)
            && state.len() == SILERO_STATE
        {
            self.state = state.clone().into_tensor();
        }
        Ok(prob)
    }

    fn reset(&mut self) {
        if let Ok(mut s) = self.state.to_plain_array_view_mut::<f32>() {
            s.fill(0.0);
        }
        self.context = [0.0; SILERO_CONTEXT];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Option<PathBuf> {
        default_model_path().filter(|p| p.exists())
    }

    #[test]
    fn silence_and_tone_are_not_speech() {
        let Some(path) = model() else {
            panic!("Silero model missing: run scripts/setup.sh");
        };
        let mut e = Silero::load(&path).unwrap();
        for _ in 0..10 {
            assert!(e.process(&[0.0; 512]).unwrap() < 0.1);
        }
        let tone: Vec<f32> = (0..512).map(|i| 0.3 * (i as f32 * 0.2).sin()).collect();
        for _ in 0..10 {
            assert!(e.process(&tone).unwrap() < 0.5);
        }
        assert!(e.process(&[0.0; 100]).is_err());
    }

    #[test]
    fn a_bad_model_file_is_an_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("bargein-badmodel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.onnx");
        std::fs::write(&p, b"not a model").unwrap();
        assert!(Silero::load(&p).is_err());
        assert!(Silero::load(&dir.join("missing.onnx")).is_err());
    }
}

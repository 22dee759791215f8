//! Audio format facts shared by the elements: the caps they accept and the
//! sample conversions their DSP needs.

use std::sync::LazyLock;

/// Rates WebRTC's audio processing runs at natively; the detector resamples
/// from any of them.
pub const SUPPORTED_RATES: [i32; 4] = [8000, 16000, 32000, 48000];

/// Interleaved F32LE/S16LE, the supported rates, mono or stereo.
pub static SUPPORTED_CAPS: LazyLock<gst::Caps> = LazyLock::new(|| {
    gst_audio::AudioCapsBuilder::new_interleaved()
        .format_list([gst_audio::AudioFormat::F32le, gst_audio::AudioFormat::S16le])
        .rate_list(SUPPORTED_RATES)
        .channels_range(1..=2)
        .build()
});

/// S16 → f32 in [-1, 1).
#[inline]
pub fn s16_to_f32(s: i16) -> f32 {
    f32::from(s) / 32768.0
}

/// f32 → S16 with saturation (never wraps on overs).
#[inline]
pub fn f32_to_s16(s: f32) -> i16 {
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Appends the samples of interleaved S16LE (or else F32LE) bytes to `out`
/// as f32; a trailing partial sample is ignored.
pub fn decode_into(bytes: &[u8], format: gst_audio::AudioFormat, out: &mut Vec<f32>) {
    match format {
        gst_audio::AudioFormat::S16le => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| s16_to_f32(i16::from_le_bytes([c[0], c[1]]))),
        ),
        _ => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
    }
}

/// Appends one sample to `out` as S16LE (or else F32LE).
#[inline]
pub fn encode_into(v: f32, format: gst_audio::AudioFormat, out: &mut Vec<u8>) {
    match format {
        gst_audio::AudioFormat::S16le => out.extend_from_slice(&f32_to_s16(v).to_le_bytes()),
        _ => out.extend_from_slice(&v.to_le_bytes()),
    }
}

/// Mean of the squared samples (0 for an empty block).
pub fn mean_square(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64
}

/// Root mean square of a block (0 for an empty block).
pub fn rms(x: &[f32]) -> f64 {
    mean_square(x).sqrt()
}

/// Level of a block in dBFS (-inf → -120).
pub fn level_db(samples: &[f32]) -> f64 {
    let mean = mean_square(samples);
    if mean <= 1e-12 {
        -120.0
    } else {
        10.0 * mean.log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s16_roundtrip_and_saturation() {
        for v in [i16::MIN, -1, 0, 1, 12345, i16::MAX] {
            assert_eq!(f32_to_s16(s16_to_f32(v)), v);
        }
        assert_eq!(f32_to_s16(2.0), i16::MAX);
        assert_eq!(f32_to_s16(-2.0), i16::MIN);
    }

    #[test]
    fn decode_and_encode_are_inverse() {
        for format in [gst_audio::AudioFormat::S16le, gst_audio::AudioFormat::F32le] {
            let samples = [0.0f32, 0.5, -0.25, -1.0];
            let mut bytes = Vec::new();
            samples
                .iter()
                .for_each(|&v| encode_into(v, format, &mut bytes));
            let mut back = Vec::new();
            decode_into(&bytes, format, &mut back);
            assert_eq!(back, samples, "{format:?}");
        }
    }

    #[test]
    fn level_of_full_scale_sine_is_minus_3_db() {
        let s: Vec<f32> = (0..1600)
            .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 440.0 / 16000.0).sin())
            .collect();
        assert!((level_db(&s) + 3.01).abs() < 0.05, "{}", level_db(&s));
        assert_eq!(level_db(&[0.0; 160]), -120.0);
    }
}

//! Speech for the corpus: espeak-ng with fixed voice, speed and pitch (its
//! output is then bit-exact run to run), resampled in Rust and cached.

use crate::dsp;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

/// One espeak-ng voice: a language plus a variant, at a fixed speed and pitch.
/// Klatt and whisper variants are left out: they add random noise.
#[derive(Debug, Clone, Copy)]
pub struct Voice {
    pub name: &'static str,
    pub speed: u32,
    pub pitch: u32,
}

/// What one language contributes: the machine's prompts, what callers say to
/// interrupt, and backchannels (short acknowledgements that should not).
pub struct Language {
    pub code: &'static str,
    pub far_voices: &'static [Voice],
    pub near_voices: &'static [Voice],
    pub prompts: &'static [&'static str],
    pub requests: &'static [&'static str],
    pub backchannels: &'static [&'static str],
}

const fn v(name: &'static str, speed: u32, pitch: u32) -> Voice {
    Voice { name, speed, pitch }
}

pub const LANGUAGES: &[Language] = &[
    Language {
        code: "en",
        far_voices: &[v("en-us+f3", 170, 55), v("en-gb+m3", 165, 45)],
        near_voices: &[
            v("en-us+m7", 175, 40),
            v("en-gb+f4", 160, 60),
            v("en-us+m2", 185, 50),
        ],
        prompts: &[
            "Welcome to ABC Bank. Your call is important to us.",
            "For account balance, press 1. For recent transactions, press 2.",
            "Please say or enter your sixteen digit card number, followed by the pound key.",
            "I can help you with payments, transfers and card services. What would you like to do?",
            "Your next payment of one hundred and twenty dollars is due on the fifth of June.",
            "To hear these options again, stay on the line.",
        ],
        requests: &[
            "I want to talk to an agent please.",
            "Customer service.",
            "No, I need to report a stolen card.",
            "Stop, can you repeat that?",
        ],
        backchannels: &["uh-huh", "okay", "mm-hmm", "yes"],
    },
    Language {
        code: "de",
        far_voices: &[v("de+f2", 165, 55), v("de+m4", 160, 45)],
        near_voices: &[v("de+m1", 175, 45), v("de+f5", 170, 60)],
        prompts: &[
            "Willkommen bei der ABC Bank. Ihr Anruf ist uns wichtig.",
            "Für Ihren Kontostand drücken Sie die Eins. Für Überweisungen die Zwei.",
            "Bitte nennen Sie Ihre Kundennummer oder geben Sie sie über die Tastatur ein.",
            "Ich kann Ihnen bei Zahlungen, Überweisungen und Karten helfen. Was möchten Sie tun?",
            "Ihre nächste Rate von hundertzwanzig Euro ist am fünften Juni fällig.",
        ],
        requests: &[
            "Ich möchte bitte mit einem Mitarbeiter sprechen.",
            "Kundendienst bitte.",
            "Nein, meine Karte wurde gestohlen.",
            "Moment, können Sie das wiederholen?",
        ],
        backchannels: &["ja", "okay", "mhm", "genau"],
    },
    Language {
        code: "fr",
        far_voices: &[v("fr-fr+f5", 165, 55), v("fr-fr+m2", 160, 45)],
        near_voices: &[v("fr-fr+m6", 175, 40), v("fr-fr+f3", 170, 60)],
        prompts: &[
            "Bienvenue à la banque ABC. Votre appel est important pour nous.",
            "Pour connaître votre solde, tapez un. Pour vos dernières opérations, tapez deux.",
            "Veuillez indiquer votre numéro de client, puis appuyez sur la touche dièse.",
            "Je peux vous aider pour vos paiements, vos virements et vos cartes. Que souhaitez-vous faire?",
            "Votre prochaine échéance de cent vingt euros est prévue le cinq juin.",
        ],
        requests: &[
            "Je voudrais parler à un conseiller s'il vous plaît.",
            "Service client.",
            "Non, on m'a volé ma carte.",
            "Attendez, vous pouvez répéter?",
        ],
        backchannels: &["oui", "d'accord", "hum hum", "ok"],
    },
    Language {
        code: "es",
        far_voices: &[v("es+f4", 165, 55), v("es+m1", 160, 45)],
        near_voices: &[v("es+m3", 175, 40), v("es+f2", 170, 60)],
        prompts: &[
            "Bienvenido al banco ABC. Su llamada es importante para nosotros.",
            "Para consultar su saldo, pulse uno. Para sus últimos movimientos, pulse dos.",
            "Por favor, diga o marque su número de cliente seguido de la tecla almohadilla.",
            "Puedo ayudarle con pagos, transferencias y tarjetas. ¿Qué desea hacer?",
            "Su próximo pago de ciento veinte euros vence el cinco de junio.",
        ],
        requests: &[
            "Quiero hablar con un agente, por favor.",
            "Atención al cliente.",
            "No, me han robado la tarjeta.",
            "Espere, ¿puede repetirlo?",
        ],
        backchannels: &["sí", "vale", "ajá", "claro"],
    },
    Language {
        code: "it",
        far_voices: &[v("it+f1", 165, 55), v("it+m7", 160, 45)],
        near_voices: &[v("it+m2", 175, 45), v("it+f4", 170, 60)],
        prompts: &[
            "Benvenuto nella banca ABC. La sua chiamata è importante per noi.",
            "Per conoscere il saldo, prema uno. Per gli ultimi movimenti, prema due.",
            "Per favore, dica o digiti il suo codice cliente seguito dal tasto cancelletto.",
            "Posso aiutarla con pagamenti, bonifici e carte. Cosa desidera fare?",
            "La prossima rata di centoventi euro scade il cinque giugno.",
        ],
        requests: &[
            "Vorrei parlare con un operatore, per favore.",
            "Servizio clienti.",
            "No, mi hanno rubato la carta.",
            "Aspetti, può ripetere?",
        ],
        backchannels: &["sì", "va bene", "ok", "certo"],
    },
    Language {
        code: "pt",
        far_voices: &[v("pt+f3", 165, 55), v("pt+m6", 160, 45)],
        near_voices: &[v("pt+m1", 175, 45), v("pt+f5", 170, 60)],
        prompts: &[
            "Bem-vindo ao banco ABC. A sua chamada é importante para nós.",
            "Para saber o seu saldo, prima um. Para os últimos movimentos, prima dois.",
            "Por favor, diga ou marque o seu número de cliente seguido da tecla cardinal.",
            "Posso ajudar com pagamentos, transferências e cartões. O que deseja fazer?",
        ],
        requests: &[
            "Quero falar com um assistente, por favor.",
            "Apoio ao cliente.",
            "Não, roubaram o meu cartão.",
        ],
        backchannels: &["sim", "certo", "ok"],
    },
    Language {
        code: "nl",
        far_voices: &[v("nl+f2", 165, 55), v("nl+m3", 160, 45)],
        near_voices: &[v("nl+m5", 175, 45), v("nl+f1", 170, 60)],
        prompts: &[
            "Welkom bij de ABC Bank. Uw oproep is belangrijk voor ons.",
            "Voor uw saldo, toets één. Voor uw laatste transacties, toets twee.",
            "Zeg of toets uw klantnummer, gevolgd door het hekje.",
            "Ik kan u helpen met betalingen, overschrijvingen en kaarten. Wat wilt u doen?",
        ],
        requests: &[
            "Ik wil graag een medewerker spreken.",
            "Klantenservice.",
            "Nee, mijn kaart is gestolen.",
        ],
        backchannels: &["ja", "oké", "hm hm"],
    },
];

pub fn language(code: &str) -> Option<&'static Language> {
    LANGUAGES.iter().find(|l| l.code == code)
}

/// espeak-ng's own rate.
const ESPEAK_RATE: u32 = 22050;
/// Bumped when synthesis or post-processing changes, to invalidate caches.
const CACHE_VERSION: u32 = 1;

/// Synthesizes and caches clips under `dir`.
pub struct Tts {
    dir: PathBuf,
}

impl Tts {
    /// `$BARGEIN_CACHE/eval-tts`, else the system temp dir.
    pub fn new() -> Result<Self> {
        let base = std::env::var_os("BARGEIN_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("gst-bargein"));
        let dir = base.join("eval-tts");
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        Ok(Self { dir })
    }

    /// Speech at `rate`, trimmed to its activity (10 ms margins).
    pub fn speak(&self, voice: &Voice, text: &str, rate: u32) -> Result<Vec<f32>> {
        let key = fnv(&format!(
            "{CACHE_VERSION}|{}|{}|{}|{rate}|{text}",
            voice.name, voice.speed, voice.pitch
        ));
        let path = self.dir.join(format!("{key:016x}.wav"));
        if let Ok((r, x)) = dsp::read_wav(&path)
            && r == rate
        {
            return Ok(x);
        }
        let out = Command::new("espeak-ng")
            .args(["-v", voice.name, "-s", &voice.speed.to_string()])
            .args(["-p", &voice.pitch.to_string(), "--stdout", "--"])
            .arg(text)
            .output()
            .context("running espeak-ng (install it: apt-get install espeak-ng)")?;
        if !out.status.success() {
            bail!(
                "espeak-ng -v {} failed: {}",
                voice.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let raw = parse_espeak_wav(&out.stdout)
            .with_context(|| format!("espeak-ng -v {} output", voice.name))?;
        let x = dsp::resample(&raw, ESPEAK_RATE, rate)?;
        let x = dsp::trim(&x, rate, rate as usize / 100);
        if x.is_empty() {
            bail!("espeak-ng -v {} produced silence for {text:?}", voice.name);
        }
        // Write aside, then rename: parallel generators may race on a clip.
        let tmp = self.dir.join(format!(
            "{key:016x}.{}.{:?}.tmp",
            std::process::id(),
            std::thread::current().id()
        ));
        dsp::write_wav_f32(&tmp, rate, &x)?;
        std::fs::rename(&tmp, &path).with_context(|| format!("rename to {}", path.display()))?;
        Ok(x)
    }
}

/// espeak-ng `--stdout` writes a WAV whose size fields are left at their
/// streaming placeholder; read the 16-bit mono samples after the `data` tag.
fn parse_espeak_wav(bytes: &[u8]) -> Result<Vec<f32>> {
    let pos = bytes
        .windows(4)
        .position(|w| w == b"data")
        .filter(|&p| p + 8 <= bytes.len())
        .context("no data chunk")?;
    Ok(bytes[pos + 8..]
        .chunks_exact(2)
        .map(|c| gstbargein::audio::s16_to_f32(i16::from_le_bytes([c[0], c[1]])))
        .collect())
}

/// FNV-1a: a stable hash for cache keys (std's hasher may change).
pub fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_is_complete() {
        assert!(LANGUAGES.len() >= 5);
        for l in LANGUAGES {
            assert!(
                !l.far_voices.is_empty() && !l.near_voices.is_empty(),
                "{}",
                l.code
            );
            assert!(l.prompts.len() >= 3 && !l.requests.is_empty(), "{}", l.code);
            assert!(!l.backchannels.is_empty(), "{}", l.code);
        }
    }

    #[test]
    fn espeak_stream_header() {
        let mut b = b"RIFF\xff\xff\xff\xffWAVEfmt ".to_vec();
        b.extend([0u8; 20]);
        b.extend(b"data\xff\xff\xff\xff");
        b.extend([0x00, 0x40, 0x00, 0xc0]);
        assert_eq!(parse_espeak_wav(&b).unwrap(), vec![0.5, -0.5]);
        assert!(parse_espeak_wav(b"RIFF").is_err());
    }
}

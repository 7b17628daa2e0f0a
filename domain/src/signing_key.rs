//! The signing key aggregate: one key that signs ID tokens, from generation to retirement.
//! The aggregate id is the key id (`kid`, RFC 7515 §4.1.4). The event log holds the public JWK
//! and the private key only in sealed form (encrypted with a key derived from the master key),
//! so the log can be audited, copied and backed up without handing out a signing key. Ids,
//! key material and times come in the commands: the api generates and seals, the aggregate
//! decides what the key may become.
//!
//! Life of a key: generated (published, not yet signing) → active (signing) → retired (still
//! published until `keep_public_until`, so tokens it signed keep verifying).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::SigningAlgorithm;

/// What every sealed private key starts with: the version of the sealing format, so a later
/// format can be told apart (and a PEM or raw DER key never passes for a sealed one).
pub const SEALED_KEY_PREFIX: &str = "v1.";

/// The shortest sealed key: a 24-byte nonce and a 16-byte tag around at least one byte of
/// ciphertext, base64url without padding.
const MIN_SEALED_BODY_CHARS: usize = ((24 + 16 + 1) * 8usize).div_ceil(6);

/// JWK members that hold private key material (RFC 7518 §6.2.2 EC and §6.3.2 RSA, §6.4.1
/// symmetric `k`; RFC 8037 §2 OKP `d`). None of them may reach the log in clear.
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SigningKeyCommand {
    /// Records a freshly generated key. `public_jwk` is the JSON text of the public JWK, with
    /// the aggregate id as its `kid` (the caller guarantees that: an aggregate does not know
    /// its own id in cqrs-es); `sealed_private_key` is the PKCS#8 key sealed by the api.
    Generate {
        alg: SigningAlgorithm,
        public_jwk: String,
        sealed_private_key: String,
    },
    /// Makes the key the one that signs new tokens for its algorithm.
    Activate,
    /// Stops signing with the key. `keep_public_until` (Unix seconds, now plus the longest
    /// token lifetime, computed by the caller) is how long relying parties still find it.
    Retire { keep_public_until: i64 },
}

/// Facts about a signing key, as stored in the event log. Version "1.0".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SigningKeyEvent {
    SigningKeyGenerated {
        alg: SigningAlgorithm,
        public_jwk: String,
        sealed_private_key: String,
    },
    SigningKeyActivated,
    SigningKeyRetired {
        keep_public_until: i64,
    },
}

impl DomainEvent for SigningKeyEvent {
    fn event_type(&self) -> String {
        match self {
            Self::SigningKeyGenerated { .. } => "SigningKeyGenerated",
            Self::SigningKeyActivated => "SigningKeyActivated",
            Self::SigningKeyRetired { .. } => "SigningKeyRetired",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why a command on a signing key was refused. Messages never echo key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningKeyError {
    #[error("signing key not found")]
    NotFound,
    #[error("signing key already exists; generate a new key under a new kid")]
    AlreadyGenerated,
    #[error("signing key is already active")]
    AlreadyActive,
    #[error("signing key is retired and cannot be activated again")]
    Retired,
    #[error("signing key is already retired")]
    AlreadyRetired,
    #[error("public JWK is invalid: {0}")]
    InvalidPublicJwk(String),
    #[error("the private key is in clear; seal it with the master key before recording it")]
    PrivateKeyInClear,
    #[error("sealed private key is not in the sealed format (\"{SEALED_KEY_PREFIX}\" + base64url)")]
    InvalidSealedKey,
    #[error("keep_public_until must be a Unix time in seconds after 1970")]
    InvalidKeepPublicUntil,
}

/// State of one signing key. The default value is "never generated".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SigningKey {
    status: Status,
    alg: Option<SigningAlgorithm>,
    keep_public_until: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Status {
    #[default]
    Absent,
    Generated,
    Active,
    Retired,
}

impl Aggregate for SigningKey {
    const TYPE: &'static str = "signing_key";
    type Command = SigningKeyCommand;
    type Event = SigningKeyEvent;
    type Error = SigningKeyError;
    type Services = ();

    async fn handle(
        &mut self,
        command: SigningKeyCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), SigningKeyError> {
        let event = match command {
            SigningKeyCommand::Generate {
                alg,
                public_jwk,
                sealed_private_key,
            } => {
                if self.status != Status::Absent {
                    return Err(SigningKeyError::AlreadyGenerated);
                }
                check_sealed(&sealed_private_key)?;
                check_public_jwk(alg, &public_jwk)?;
                SigningKeyEvent::SigningKeyGenerated {
                    alg,
                    public_jwk,
                    sealed_private_key,
                }
            }
            SigningKeyCommand::Activate => match self.status {
                Status::Absent => return Err(SigningKeyError::NotFound),
                Status::Active => return Err(SigningKeyError::AlreadyActive),
                Status::Retired => return Err(SigningKeyError::Retired),
                Status::Generated => SigningKeyEvent::SigningKeyActivated,
            },
            SigningKeyCommand::Retire { keep_public_until } => match self.status {
                Status::Absent => return Err(SigningKeyError::NotFound),
                Status::Retired => return Err(SigningKeyError::AlreadyRetired),
                Status::Generated | Status::Active if keep_public_until < 0 => {
                    return Err(SigningKeyError::InvalidKeepPublicUntil);
                }
                Status::Generated | Status::Active => {
                    SigningKeyEvent::SigningKeyRetired { keep_public_until }
                }
            },
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: SigningKeyEvent) {
        match event {
            SigningKeyEvent::SigningKeyGenerated { alg, .. } => {
                *self = Self {
                    status: Status::Generated,
                    alg: Some(alg),
                    keep_public_until: None,
                }
            }
            SigningKeyEvent::SigningKeyActivated => self.status = Status::Active,
            SigningKeyEvent::SigningKeyRetired { keep_public_until } => {
                self.status = Status::Retired;
                self.keep_public_until = Some(keep_public_until);
            }
        }
    }
}

// Read access for the rest of Sigil.
impl SigningKey {
    pub fn alg(&self) -> Option<SigningAlgorithm> {
        self.alg
    }

    /// Generated or active, not retired: relying parties should find it.
    pub fn is_current(&self) -> bool {
        matches!(self.status, Status::Generated | Status::Active)
    }

    pub fn is_active(&self) -> bool {
        self.status == Status::Active
    }

    pub fn is_retired(&self) -> bool {
        self.status == Status::Retired
    }

    /// Unix seconds until which a retired key stays published.
    pub fn keep_public_until(&self) -> Option<i64> {
        self.keep_public_until
    }
}

/// The sealed form is opaque here (the domain holds no key to open it), but its shape is
/// checked so that a PEM or DER key in clear cannot be recorded by mistake.
fn check_sealed(sealed: &str) -> Result<(), SigningKeyError> {
    if sealed.contains("PRIVATE KEY") {
        return Err(SigningKeyError::PrivateKeyInClear);
    }
    let Some(body) = sealed.strip_prefix(SEALED_KEY_PREFIX) else {
        return Err(SigningKeyError::InvalidSealedKey);
    };
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if body.len() < MIN_SEALED_BODY_CHARS || !body.chars().all(base64url) {
        return Err(SigningKeyError::InvalidSealedKey);
    }
    Ok(())
}

/// A public JWK (RFC 7517 §4) of the key type the algorithm needs, with a `kid` and no
/// private member.
fn check_public_jwk(alg: SigningAlgorithm, text: &str) -> Result<(), SigningKeyError> {
    let invalid = |why: &str| SigningKeyError::InvalidPublicJwk(why.to_owned());
    let Ok(Value::Object(jwk)) = serde_json::from_str::<Value>(text) else {
        return Err(invalid("it must be a JSON object"));
    };
    if PRIVATE_JWK_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(SigningKeyError::PrivateKeyInClear);
    }
    match jwk.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => {}
        _ => return Err(invalid("\"kid\" must be a non-empty string")),
    }
    let string = |jwk: &Map<String, Value>, name: &str| {
        jwk.get(name).and_then(Value::as_str).map(str::to_owned)
    };
    // RFC 7518 §3.1 names the algorithms; §6.1 and RFC 8037 §2 the key type each needs.
    let (name, kty, crv, members): (_, _, _, &[&str]) = match alg {
        SigningAlgorithm::ES384 => ("ES384", "EC", Some("P-384"), &["x", "y"]),
        SigningAlgorithm::EdDSA => ("EdDSA", "OKP", Some("Ed25519"), &["x"]),
        SigningAlgorithm::RS256 => ("RS256", "RSA", None, &["n", "e"]),
    };
    if string(&jwk, "kty").as_deref() != Some(kty) {
        return Err(invalid(&format!("{name} needs \"kty\": \"{kty}\"")));
    }
    if let Some(crv) = crv.filter(|crv| string(&jwk, "crv").as_deref() != Some(*crv)) {
        return Err(invalid(&format!("{name} needs \"crv\": \"{crv}\"")));
    }
    if let Some(member) = members
        .iter()
        .find(|m| string(&jwk, m).is_none_or(|v| v.is_empty()))
    {
        return Err(invalid(&format!("{name} needs a non-empty \"{member}\"")));
    }
    if jwk.contains_key("alg") && string(&jwk, "alg").as_deref() != Some(name) {
        return Err(invalid(&format!("\"alg\" must be \"{name}\"")));
    }
    // RFC 7517 §4.2: a key published for ID tokens is for signatures only.
    if jwk.contains_key("use") && string(&jwk, "use").as_deref() != Some("sig") {
        return Err(invalid("\"use\" must be \"sig\""));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Given/when/then tests for the signing key aggregate, one rule each.

    use cqrs_es::test::TestFramework;

    use super::*;

    // The shape of a real sealed key: "v1." and the base64url of nonce, ciphertext and tag.
    const SEALED: &str =
        "v1.q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJ";

    fn key() -> TestFramework<SigningKey> {
        TestFramework::with(())
    }

    fn es384_jwk() -> String {
        r#"{"kty":"EC","crv":"P-384","x":"AAA","y":"BBB","kid":"k1","alg":"ES384","use":"sig"}"#
            .to_owned()
    }

    fn generate() -> SigningKeyCommand {
        SigningKeyCommand::Generate {
            alg: SigningAlgorithm::ES384,
            public_jwk: es384_jwk(),
            sealed_private_key: SEALED.to_owned(),
        }
    }

    fn generated() -> SigningKeyEvent {
        SigningKeyEvent::SigningKeyGenerated {
            alg: SigningAlgorithm::ES384,
            public_jwk: es384_jwk(),
            sealed_private_key: SEALED.to_owned(),
        }
    }

    fn retired() -> SigningKeyEvent {
        SigningKeyEvent::SigningKeyRetired {
            keep_public_until: 1_700_000_000,
        }
    }

    fn generate_with(
        alg: SigningAlgorithm,
        public_jwk: &str,
        sealed: &str,
    ) -> Result<Vec<SigningKeyEvent>, SigningKeyError> {
        key()
            .given_no_previous_events()
            .when(SigningKeyCommand::Generate {
                alg,
                public_jwk: public_jwk.to_owned(),
                sealed_private_key: sealed.to_owned(),
            })
            .inspect_result()
    }

    fn jwk_error(alg: SigningAlgorithm, public_jwk: &str) -> SigningKeyError {
        generate_with(alg, public_jwk, SEALED).unwrap_err()
    }

    // --- Generate ---

    #[test]
    fn generate_records_the_public_jwk_and_the_sealed_key() {
        key()
            .given_no_previous_events()
            .when(generate())
            .then_expect_events(vec![generated()]);
    }

    #[test]
    fn generate_happens_once_per_kid() {
        for given in [
            vec![generated()],
            vec![generated(), SigningKeyEvent::SigningKeyActivated],
            vec![generated(), retired()],
        ] {
            key()
                .given(given)
                .when(generate())
                .then_expect_error(SigningKeyError::AlreadyGenerated);
        }
    }

    #[test]
    fn each_algorithm_accepts_its_own_key_type() {
        let okp = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k"}"#;
        let rsa = r#"{"kty":"RSA","n":"0vx7agoebGcQSuu","e":"AQAB","kid":"k","alg":"RS256"}"#;
        assert!(generate_with(SigningAlgorithm::EdDSA, okp, SEALED).is_ok());
        assert!(generate_with(SigningAlgorithm::RS256, rsa, SEALED).is_ok());
    }

    #[test]
    fn a_private_key_in_clear_is_refused() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDC\n-----END PRIVATE KEY-----";
        assert_eq!(
            generate_with(SigningAlgorithm::ES384, &es384_jwk(), pem),
            Err(SigningKeyError::PrivateKeyInClear)
        );
        let sneaky = format!("{SEALED}PRIVATE KEY");
        assert_eq!(
            generate_with(SigningAlgorithm::ES384, &es384_jwk(), &sneaky),
            Err(SigningKeyError::PrivateKeyInClear)
        );
    }

    #[test]
    fn a_key_not_in_the_sealed_format_is_refused() {
        // Raw base64 of a PKCS#8 DER, a short body, a foreign version, standard base64.
        for sealed in [
            "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDCq83vEjRWeJq83vEjRWeJq83vEjRWeJq83",
            "v1.abc",
            "v2.q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJ",
            "v1.q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWe+/==",
            "",
        ] {
            assert_eq!(
                generate_with(SigningAlgorithm::ES384, &es384_jwk(), sealed),
                Err(SigningKeyError::InvalidSealedKey),
                "{sealed}"
            );
        }
    }

    #[test]
    fn the_public_jwk_must_be_a_json_object_with_a_kid() {
        let es = SigningAlgorithm::ES384;
        for jwk in [
            "not json",
            "[]",
            r#""kid""#,
            r#"{"kty":"EC","crv":"P-384","x":"AAA","y":"BBB"}"#,
            r#"{"kty":"EC","crv":"P-384","x":"AAA","y":"BBB","kid":""}"#,
            r#"{"kty":"EC","crv":"P-384","x":"AAA","y":"BBB","kid":7}"#,
        ] {
            assert!(
                matches!(jwk_error(es, jwk), SigningKeyError::InvalidPublicJwk(_)),
                "{jwk}"
            );
        }
    }

    #[test]
    fn the_public_jwk_must_not_hold_private_members() {
        let with_d = r#"{"kty":"EC","crv":"P-384","x":"AAA","y":"BBB","d":"CCC","kid":"k"}"#;
        assert_eq!(
            jwk_error(SigningAlgorithm::ES384, with_d),
            SigningKeyError::PrivateKeyInClear
        );
        let with_p = r#"{"kty":"RSA","n":"AAA","e":"AQAB","p":"CCC","kid":"k"}"#;
        assert_eq!(
            jwk_error(SigningAlgorithm::RS256, with_p),
            SigningKeyError::PrivateKeyInClear
        );
    }

    #[test]
    fn the_public_jwk_must_fit_the_algorithm() {
        let p256 = r#"{"kty":"EC","crv":"P-256","x":"AAA","y":"BBB","kid":"k"}"#;
        let rsa = r#"{"kty":"RSA","n":"AAA","e":"AQAB","kid":"k"}"#;
        let no_y = r#"{"kty":"EC","crv":"P-384","x":"AAA","kid":"k"}"#;
        let x25519 = r#"{"kty":"OKP","crv":"X25519","x":"AAA","kid":"k"}"#;
        let wrong_alg = r#"{"kty":"EC","crv":"P-384","x":"AAA","y":"BBB","kid":"k","alg":"ES256"}"#;
        let enc = r#"{"kty":"EC","crv":"P-384","x":"AAA","y":"BBB","kid":"k","use":"enc"}"#;
        for (alg, jwk) in [
            (SigningAlgorithm::ES384, p256),
            (SigningAlgorithm::ES384, rsa),
            (SigningAlgorithm::ES384, no_y),
            (SigningAlgorithm::EdDSA, x25519),
            (SigningAlgorithm::RS256, p256),
            (SigningAlgorithm::ES384, wrong_alg),
            (SigningAlgorithm::ES384, enc),
        ] {
            assert!(
                matches!(jwk_error(alg, jwk), SigningKeyError::InvalidPublicJwk(_)),
                "{alg:?} {jwk}"
            );
        }
    }

    // --- Activate ---

    #[test]
    fn activate_a_generated_key() {
        key()
            .given(vec![generated()])
            .when(SigningKeyCommand::Activate)
            .then_expect_events(vec![SigningKeyEvent::SigningKeyActivated]);
    }

    #[test]
    fn activate_needs_a_generated_key() {
        key()
            .given_no_previous_events()
            .when(SigningKeyCommand::Activate)
            .then_expect_error(SigningKeyError::NotFound);
    }

    #[test]
    fn activate_an_active_key_fails() {
        key()
            .given(vec![generated(), SigningKeyEvent::SigningKeyActivated])
            .when(SigningKeyCommand::Activate)
            .then_expect_error(SigningKeyError::AlreadyActive);
    }

    #[test]
    fn a_retired_key_never_signs_again() {
        for given in [
            vec![generated(), retired()],
            vec![generated(), SigningKeyEvent::SigningKeyActivated, retired()],
        ] {
            key()
                .given(given)
                .when(SigningKeyCommand::Activate)
                .then_expect_error(SigningKeyError::Retired);
        }
    }

    // --- Retire ---

    #[test]
    fn retire_an_active_or_a_generated_key() {
        key()
            .given(vec![generated(), SigningKeyEvent::SigningKeyActivated])
            .when(SigningKeyCommand::Retire {
                keep_public_until: 1_700_000_000,
            })
            .then_expect_events(vec![retired()]);
        key()
            .given(vec![generated()])
            .when(SigningKeyCommand::Retire {
                keep_public_until: 1_700_000_000,
            })
            .then_expect_events(vec![retired()]);
    }

    #[test]
    fn retire_needs_a_generated_key() {
        key()
            .given_no_previous_events()
            .when(SigningKeyCommand::Retire {
                keep_public_until: 1_700_000_000,
            })
            .then_expect_error(SigningKeyError::NotFound);
    }

    #[test]
    fn retire_happens_once() {
        key()
            .given(vec![generated(), retired()])
            .when(SigningKeyCommand::Retire {
                keep_public_until: 1_800_000_000,
            })
            .then_expect_error(SigningKeyError::AlreadyRetired);
    }

    #[test]
    fn keep_public_until_is_a_unix_time() {
        key()
            .given(vec![generated()])
            .when(SigningKeyCommand::Retire {
                keep_public_until: -1,
            })
            .then_expect_error(SigningKeyError::InvalidKeepPublicUntil);
    }

    // --- State and events ---

    #[test]
    fn state_follows_the_life_of_the_key() {
        let mut key = SigningKey::default();
        assert!(!key.is_current() && key.alg().is_none());
        key.apply(generated());
        assert!(key.is_current() && !key.is_active());
        assert_eq!(key.alg(), Some(SigningAlgorithm::ES384));
        key.apply(SigningKeyEvent::SigningKeyActivated);
        assert!(key.is_current() && key.is_active());
        key.apply(retired());
        assert!(key.is_retired() && !key.is_current() && !key.is_active());
        assert_eq!(key.keep_public_until(), Some(1_700_000_000));
    }

    #[test]
    fn events_are_named_in_the_past_tense_and_versioned() {
        let names: Vec<String> = [generated(), SigningKeyEvent::SigningKeyActivated, retired()]
            .iter()
            .map(|e| {
                assert_eq!(e.event_version(), "1.0");
                e.event_type()
            })
            .collect();
        assert_eq!(
            names,
            [
                "SigningKeyGenerated",
                "SigningKeyActivated",
                "SigningKeyRetired"
            ]
        );
        assert_eq!(SigningKey::TYPE, "signing_key");
    }
}

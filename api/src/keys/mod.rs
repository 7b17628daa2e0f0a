//! ID-token signing keys: generated here, recorded as `SigningKey` events with the private
//! key sealed under a key derived from the master key, and loaded back into a [`KeyRing`]
//! that signs JWTs and publishes the JWKS (RFC 7517 §5). One key is active per algorithm
//! (ES384, EdDSA, RS256); retired keys stay published until the tokens they signed expire.
//!
//! - [`seal`]: XChaCha20-Poly1305 sealing of private keys, bound to their kid.
//! - [`generate`]: new key pairs as PKCS#8 and public JWKs.
//! - [`jwt`]: a signer parsed once from PKCS#8, and compact JWS encoding by hand.
//! - [`keyring`]: the keys in force, read from the log, with generation and rotation.

pub mod generate;
pub mod jwt;
pub mod keyring;
pub mod seal;
pub mod verify;

pub use generate::{GeneratedKey, generate};
pub use jwt::{Signer, encode};
pub use keyring::{KeyRing, ensure_active_keys, rotate};
pub use seal::Sealer;

use sigil_domain::{SigningAlgorithm, SigningKeyError};
use sigil_eventstore::StoreError;

use crate::commands::CommandError;

/// Every algorithm Sigil signs ID tokens with, each with its own active key.
pub const ALGORITHMS: [SigningAlgorithm; 3] = [
    SigningAlgorithm::ES384,
    SigningAlgorithm::EdDSA,
    SigningAlgorithm::RS256,
];

/// The JWS `alg` name (RFC 7518 §3.1; RFC 8037 §3.1 for EdDSA).
pub fn alg_name(alg: SigningAlgorithm) -> &'static str {
    match alg {
        SigningAlgorithm::ES384 => "ES384",
        SigningAlgorithm::EdDSA => "EdDSA",
        SigningAlgorithm::RS256 => "RS256",
    }
}

/// What can go wrong with signing keys. Messages name the key and say what to check; none
/// holds key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "a sealed private key is malformed (expected \"v1.\" followed by base64url); the event log may have been altered: run `sigil events verify`"
    )]
    SealedFormat,
    #[error(
        "a sealed private key cannot be opened: the master key is not the one it was sealed with (check SIGIL_MASTER_KEY_FILE), or the sealed key was altered or moved to another kid"
    )]
    Unseal,
    #[error("cannot generate a new {alg} key: {reason}", alg = alg_name(*.alg))]
    Generate {
        alg: SigningAlgorithm,
        reason: String,
    },
    #[error("the {alg} private key is not usable PKCS#8: {reason}", alg = alg_name(*.alg))]
    InvalidPrivateKey {
        alg: SigningAlgorithm,
        reason: String,
    },
    #[error("signing key {kid} in the event log cannot be read: {reason}")]
    Corrupt { kid: String, reason: String },
    #[error("reading signing keys from the event log failed: {0}")]
    Store(#[from] StoreError),
    #[error("recording a signing key change failed: {0}")]
    Command(#[from] CommandError<SigningKeyError>),
}

//! The master key: 32 random bytes in a file only the server's user can read. Nothing uses it
//! directly; each purpose derives its own key with HKDF-SHA256, so a key for one purpose says
//! nothing about another.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hkdf::Hkdf;
use sha2::Sha256;
use sigil_eventstore::SigningKey;

pub struct MasterKey {
    bytes: [u8; 32],
    path: PathBuf,
}

impl MasterKey {
    /// Reads the key, generating it on first start.
    pub fn load_or_create(path: &Path) -> anyhow::Result<MasterKey> {
        if !path.exists() {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let bytes: [u8; 32] = rand::random();
            // create_new: two processes starting at once cannot both write a key.
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(mut file) => {
                    file.write_all(hex::encode(bytes).as_bytes())?;
                    file.sync_all()?;
                    tracing::info!(path = %path.display(), "generated a new master key");
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()));
                }
            }
        }
        MasterKey::load(path)
    }

    /// Reads an existing key.
    pub fn load(path: &Path) -> anyhow::Result<MasterKey> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read the master key at {}", path.display()))?;
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "the master key is readable by other users; chmod 600 it");
        }
        let Ok(decoded) = hex::decode(text.trim()) else {
            bail!(
                "{} is not a master key (64 hex digits expected)",
                path.display()
            );
        };
        let Ok(bytes) = <[u8; 32]>::try_from(decoded) else {
            bail!("{} is not a master key (32 bytes expected)", path.display());
        };
        Ok(MasterKey {
            bytes,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A 32-byte key for one purpose.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut okm = [0; 32];
        Hkdf::<Sha256>::new(Some(b"sigil.master-key.v1"), &self.bytes)
            .expand(purpose.as_bytes(), &mut okm)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        okm
    }

    /// The Ed25519 key that signs log checkpoints.
    pub fn checkpoint_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.derive("log-checkpoints"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_generates_a_private_key_and_later_starts_reuse_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/master.key");
        let first = MasterKey::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(first.bytes, again.bytes);
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        let key = MasterKey {
            bytes: [1; 32],
            path: PathBuf::new(),
        };
        assert_ne!(key.derive("a"), key.derive("b"));
        assert_eq!(key.derive("a"), key.derive("a"));
    }

    #[test]
    fn a_file_that_is_not_a_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        fs::write(&path, "hello").unwrap();
        assert!(MasterKey::load(&path).is_err());
        fs::write(&path, "abcd").unwrap();
        assert!(MasterKey::load(&path).is_err());
    }
}

//! The operator's approver key: an Ed25519 key pair whose private half is kept encrypted with a
//! passphrase only the operator knows (ADR 0015).
//!
//! Invariants:
//! - The private key exists in memory only between unlocking and signing; on disk it is
//!   PKCS#8 sealed with ChaCha20-Poly1305 under a key derived from the passphrase with
//!   PBKDF2-HMAC-SHA256 (600,000 iterations, a random 16-byte salt, a random nonce).
//! - A wrong passphrase, or a file changed by a single bit, fails to unlock; nothing is
//!   signed.
//! - The passphrase is read from the controlling terminal with echo off, never from an
//!   argument, a file or the environment.

use std::io::{BufRead, BufReader, Write};
use std::num::NonZeroU32;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// PBKDF2 iterations (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
const ITERATIONS: u32 = 600_000;
/// The shortest passphrase `praxis init` accepts.
pub const MIN_PASSPHRASE_CHARS: usize = 12;

/// A key problem, said plainly.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("wrong passphrase, or the key file was changed; nothing was signed")]
    WrongPassphrase,
    #[error("the key file is not a praxis approver key: {0}")]
    Malformed(String),
    #[error("the system random source failed")]
    Random,
    #[error("cannot use the terminal: {0}")]
    Terminal(String),
}

/// The key file (`<state>/approver.key`, mode 0600): JSON.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub version: u32,
    pub kdf: String,
    pub iterations: u32,
    pub salt: String,
    pub nonce: String,
    pub ciphertext: String,
    /// The public key (hex), so the file names what it can sign for.
    pub public_key: String,
}

/// A public key that verifies approvals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey(Vec<u8>);

impl PublicKey {
    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<PublicKey> {
        let bytes = from_hex(text.trim())?;
        (bytes.len() == 32).then_some(PublicKey(bytes))
    }

    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// `SHA256:<first 32 hex digits of the SHA-256 of the key>`, what operators compare.
    pub fn fingerprint(&self) -> String {
        format!("SHA256:{}", &Digest::of(&self.0).to_hex()[..32])
    }

    /// Whether `signature` (hex) is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature_hex: &str) -> bool {
        from_hex(signature_hex).is_some_and(|signature_bytes| {
            signature::UnparsedPublicKey::new(&signature::ED25519, &self.0)
                .verify(message, &signature_bytes)
                .is_ok()
        })
    }
}

/// An unlocked key: it signs.
pub struct SigningKey(Ed25519KeyPair);

impl SigningKey {
    /// The hex signature of `message`.
    pub fn sign(&self, message: &[u8]) -> String {
        to_hex(self.0.sign(message).as_ref())
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.public_key().as_ref().to_vec())
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "SigningKey({})", self.public_key().fingerprint())
    }
}

fn sealing_key(passphrase: &str, salt: &[u8], iterations: u32) -> Result<LessSafeKey, KeyError> {
    let rounds =
        NonZeroU32::new(iterations).ok_or_else(|| KeyError::Malformed("zero iterations".into()))?;
    let mut derived = [0_u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        passphrase.as_bytes(),
        &mut derived,
    );
    let key = UnboundKey::new(&aead::CHACHA20_POLY1305, &derived)
        .map_err(|_| KeyError::Malformed("key derivation".into()))?;
    derived.fill(0);
    Ok(LessSafeKey::new(key))
}

/// Makes a new key pair sealed with `passphrase`.
pub fn generate(passphrase: &str) -> Result<(KeyFile, PublicKey), KeyError> {
    generate_with(passphrase, ITERATIONS)
}

pub(crate) fn generate_with(
    passphrase: &str,
    iterations: u32,
) -> Result<(KeyFile, PublicKey), KeyError> {
    let random = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&random).map_err(|_| KeyError::Random)?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|error| KeyError::Malformed(error.to_string()))?;
    let public = PublicKey(pair.public_key().as_ref().to_vec());
    let mut salt = [0_u8; 16];
    let mut nonce = [0_u8; 12];
    random.fill(&mut salt).map_err(|_| KeyError::Random)?;
    random.fill(&mut nonce).map_err(|_| KeyError::Random)?;
    let key = sealing_key(passphrase, &salt, iterations)?;
    let mut sealed = pkcs8.as_ref().to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(public.0.as_slice()),
        &mut sealed,
    )
    .map_err(|_| KeyError::Random)?;
    Ok((
        KeyFile {
            version: 1,
            kdf: "pbkdf2-hmac-sha256".into(),
            iterations,
            salt: to_hex(&salt),
            nonce: to_hex(&nonce),
            ciphertext: to_hex(&sealed),
            public_key: public.to_hex(),
        },
        public,
    ))
}

/// Unlocks `file` with `passphrase`.
pub fn unlock(file: &KeyFile, passphrase: &str) -> Result<SigningKey, KeyError> {
    if file.version != 1 || file.kdf != "pbkdf2-hmac-sha256" {
        return Err(KeyError::Malformed(format!(
            "version {} with {}",
            file.version, file.kdf
        )));
    }
    let field = |name: &str, text: &str| {
        from_hex(text).ok_or_else(|| KeyError::Malformed(format!("{name} is not hex")))
    };
    let salt = field("salt", &file.salt)?;
    let nonce = field("nonce", &file.nonce)?;
    let mut sealed = field("ciphertext", &file.ciphertext)?;
    let public = field("public_key", &file.public_key)?;
    let nonce = Nonce::try_assume_unique_for_key(&nonce)
        .map_err(|_| KeyError::Malformed("nonce length".into()))?;
    let key = sealing_key(passphrase, &salt, file.iterations)?;
    let pkcs8 = key
        .open_in_place(nonce, Aad::from(public.as_slice()), &mut sealed)
        .map_err(|_| KeyError::WrongPassphrase)?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| KeyError::WrongPassphrase)?;
    let unlocked = SigningKey(pair);
    sealed.fill(0);
    if unlocked.public_key().0 != public {
        return Err(KeyError::WrongPassphrase);
    }
    Ok(unlocked)
}

#[expect(clippy::needless_pass_by_value, reason = "used as a map_err function")]
fn terminal(error: std::io::Error) -> KeyError {
    KeyError::Terminal(error.to_string())
}

/// Prints `prompt` on the controlling terminal (`/dev/tty`) and reads one line from it.
fn ask(tty: &std::fs::File, prompt: &str) -> std::io::Result<String> {
    let mut writer = tty;
    writer.write_all(prompt.as_bytes())?;
    writer.flush()?;
    let mut line = String::new();
    BufReader::new(tty).read_line(&mut line)?;
    Ok(line)
}

fn open_tty() -> Result<std::fs::File, KeyError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(terminal)
}

/// Reads a passphrase from the controlling terminal (`/dev/tty`) with echo off, after
/// printing `prompt` there. Never reads stdin, an argument or the environment.
pub fn read_passphrase(prompt: &str) -> Result<String, KeyError> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let tty = open_tty()?;
    let saved = tcgetattr(&tty).map_err(|error| terminal(error.into()))?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ICANON);
    tcsetattr(&tty, OptionalActions::Flush, &quiet).map_err(|error| terminal(error.into()))?;
    let line = ask(&tty, prompt).and_then(|line| {
        let mut writer = &tty;
        writer.write_all(b"\n")?;
        Ok(line)
    });
    let restored = tcsetattr(&tty, OptionalActions::Flush, &saved);
    let mut line = line.map_err(terminal)?;
    restored.map_err(|error| terminal(error.into()))?;
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Ok(line)
}

/// Asks on the terminal for a line typed in the open (a confirmation, not a secret).
pub fn read_confirmation(prompt: &str) -> Result<String, KeyError> {
    let tty = open_tty()?;
    Ok(ask(&tty, prompt).map_err(terminal)?.trim().to_owned())
}

pub fn to_hex(bytes: &[u8]) -> String {
    crate::digest::hex(bytes)
}

pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).ok())
        .collect()
}

/// Where `praxis init` keeps the sealed key and its public half.
pub fn key_paths(state_dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    (
        state_dir.join("approver.key"),
        state_dir.join("approver.pub"),
    )
}

/// The public key `praxis init` wrote, if any.
pub fn read_public_key(state_dir: &std::path::Path) -> Result<Option<PublicKey>, String> {
    let (_, public) = key_paths(state_dir);
    match std::fs::read_to_string(&public) {
        Ok(text) => PublicKey::from_hex(&text)
            .map(Some)
            .ok_or_else(|| format!("{} is not an Ed25519 public key", public.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(format!("cannot read {}: {error}", public.display())),
    }
}

/// The sealed key `praxis init` wrote.
pub fn read_key_file(state_dir: &std::path::Path) -> Result<KeyFile, String> {
    let (path, _) = key_paths(state_dir);
    let text = std::fs::read_to_string(&path).map_err(|error| {
        format!(
            "cannot read the approver key {}: {error}; `praxis init` in a terminal creates it",
            path.display()
        )
    })?;
    serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
}

/// Writes a new sealed key (0600, never over an existing one) and its public half.
pub fn write_key_files(
    state_dir: &std::path::Path,
    file: &KeyFile,
    public: &PublicKey,
) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let (key_path, public_path) = key_paths(state_dir);
    let text = serde_json::to_string_pretty(file).map_err(|error| error.to_string())?;
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .map_err(|error| format!("cannot create {}: {error}", key_path.display()))?;
    output
        .write_all(text.as_bytes())
        .and_then(|()| output.sync_all())
        .map_err(|error| format!("cannot write {}: {error}", key_path.display()))?;
    std::fs::write(&public_path, format!("{}\n", public.to_hex()))
        .map_err(|error| format!("cannot write {}: {error}", public_path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_unlocks_with_its_passphrase_only_and_signs() {
        let (file, public) = generate_with("correct horse battery", 1_000).unwrap();
        assert!(unlock(&file, "wrong horse battery").is_err());
        let key = unlock(&file, "correct horse battery").unwrap();
        assert_eq!(key.public_key(), public);
        let signature = key.sign(b"approve 1");
        assert!(public.verifies(b"approve 1", &signature));
        assert!(!public.verifies(b"approve 2", &signature));
        assert!(!public.verifies(b"approve 1", "00"));
        // One flipped bit anywhere in the sealed key: it does not unlock.
        let mut tampered = file.clone();
        let flipped = if tampered.ciphertext.starts_with('0') {
            "1"
        } else {
            "0"
        };
        tampered.ciphertext.replace_range(0..1, flipped);
        assert!(matches!(
            unlock(&tampered, "correct horse battery"),
            Err(KeyError::WrongPassphrase)
        ));
        // Another key's public half swapped in: refused too.
        let (other, _) = generate_with("x".repeat(12).as_str(), 1_000).unwrap();
        let mut swapped = file;
        swapped.public_key = other.public_key;
        assert!(unlock(&swapped, "correct horse battery").is_err());
    }

    #[test]
    fn fingerprints_and_hex_round_trip() {
        let (_, public) = generate_with("passphrase!!", 1_000).unwrap();
        assert_eq!(PublicKey::from_hex(&public.to_hex()), Some(public.clone()));
        assert!(public.fingerprint().starts_with("SHA256:"));
        assert_eq!(PublicKey::from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }
}

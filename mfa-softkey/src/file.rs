//! The key file: the software key's credentials and behaviour, and the two CTAP2 operations.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroize as _;

use crate::ctap::{self, FLAG_AT, FLAG_UP, FLAG_UV, PrivateKey};
use crate::{
    Algorithm, Assertion, GetAssertionRequest, MARKER, MakeCredentialRequest, SoftKeyError,
};

/// Which attestation statement make_credential returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttestationFormat {
    /// `packed` self-attestation, signed with the new credential's key (what most keys send
    /// when they have no vendor certificate).
    #[default]
    Packed,
    /// `none`: an empty statement.
    None,
}

/// How the software key behaves; tests change it to play a faulty or hostile key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Behaviour {
    /// The UP flag reported: `false` plays a key that signs without a touch.
    pub up: bool,
    /// The UV flag reported even without a PIN (a key with built-in verification). With
    /// `false` and no correct PIN, UV is 0 whatever the request asked: the key does not
    /// refuse, so the verifier's own check is what a test exercises.
    pub uv: bool,
    /// The key's PIN, if it has one. A request with the right PIN gets UV=1; a wrong one
    /// is refused (`PinInvalid`); a PIN sent to a key without one is refused (`PinNotSet`);
    /// UV requested without a PIN, when the key has one and no built-in UV: `PinRequired`.
    pub pin: Option<String>,
    /// Added to a credential's counter at each assertion (0: the counter never moves).
    pub counter_step: u32,
    /// When set, every assertion reports (and stores) this counter instead: a stalled or
    /// regressing counter, as a cloned key shows.
    pub force_counter: Option<u32>,
    /// The attestation statement of new credentials.
    pub attestation: AttestationFormat,
    /// The AAGUID of new credentials.
    #[serde(with = "hex::serde")]
    pub aaguid: [u8; 16],
    /// Milliseconds get_assertion waits before doing anything (0: none): a key that does
    /// not answer, for the PAM module's `fido2_timeout=`. Set it longer than the deadline
    /// under test so that only the caller's deadline can end the wait.
    pub stall_ms: u64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            up: true,
            uv: false,
            pin: None,
            counter_step: 1,
            force_counter: None,
            attestation: AttestationFormat::Packed,
            aaguid: [0; 16],
            stall_ms: 0,
        }
    }
}

/// A credential on the key, without its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    /// The credential ID.
    pub credential_id: Vec<u8>,
    /// The RP ID it was made for.
    pub rp_id: String,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// Its current signature counter.
    pub counter: u32,
}

/// One credential as stored in the file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCredential {
    #[serde(with = "hex::serde")]
    credential_id: Vec<u8>,
    rp_id: String,
    algorithm: Algorithm,
    /// Test key material, in clear (this is not a key store).
    #[serde(with = "hex::serde")]
    private_key: [u8; 32],
    counter: u32,
}

impl Drop for StoredCredential {
    fn drop(&mut self) {
        self.private_key.zeroize();
    }
}

/// The whole file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    /// Always [`MARKER`].
    format: String,
    #[serde(default)]
    behaviour: Behaviour,
    #[serde(default)]
    credentials: Vec<StoredCredential>,
}

/// A software FIDO2 key backed by a JSON file.
#[derive(Debug, Clone)]
pub struct SoftKey {
    path: PathBuf,
}

impl SoftKey {
    /// Creates a key file (mode 0600) with no credentials; fails if `path` exists.
    pub fn create(path: impl Into<PathBuf>, behaviour: Behaviour) -> Result<Self, SoftKeyError> {
        let key = SoftKey { path: path.into() };
        let file = KeyFile {
            format: MARKER.to_owned(),
            behaviour,
            credentials: Vec::new(),
        };
        let _lock = key.lock()?;
        if key.path.exists() {
            return Err(key.io(std::io::Error::from(std::io::ErrorKind::AlreadyExists)));
        }
        key.store(&file)?;
        Ok(key)
    }

    /// Opens an existing key file, checking that it is one.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, SoftKeyError> {
        let key = SoftKey { path: path.into() };
        key.load()?;
        Ok(key)
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current behaviour.
    pub fn behaviour(&self) -> Result<Behaviour, SoftKeyError> {
        let _lock = self.lock()?;
        Ok(self.load()?.behaviour.clone())
    }

    /// Replaces the behaviour (credentials and counters are kept).
    pub fn set_behaviour(&self, behaviour: Behaviour) -> Result<(), SoftKeyError> {
        let _lock = self.lock()?;
        let mut file = self.load()?;
        file.behaviour = behaviour;
        self.store(&file)
    }

    /// The credentials on the key, without private keys.
    pub fn credentials(&self) -> Result<Vec<CredentialInfo>, SoftKeyError> {
        let _lock = self.lock()?;
        Ok(self
            .load()?
            .credentials
            .iter()
            .map(|c| CredentialInfo {
                credential_id: c.credential_id.clone(),
                rp_id: c.rp_id.clone(),
                algorithm: c.algorithm,
                counter: c.counter,
            })
            .collect())
    }

    /// authenticatorMakeCredential: creates a credential and returns the attestation object
    /// (WebAuthn form: `fmt`, `attStmt`, `authData`).
    pub fn make_credential(
        &self,
        req: &MakeCredentialRequest<'_>,
    ) -> Result<Vec<u8>, SoftKeyError> {
        let _lock = self.lock()?;
        let mut file = self.load()?;
        let b = &file.behaviour;
        if file
            .credentials
            .iter()
            .any(|c| c.rp_id == req.rp_id && req.exclude_list.contains(&c.credential_id))
        {
            return Err(SoftKeyError::CredentialExcluded);
        }
        // CTAP2 picks the first requested algorithm it supports; both are supported here.
        let algorithm = req.algorithms.first().copied().unwrap_or(Algorithm::Es256);
        let flags = user_flags(b, req.pin, req.require_uv)? | FLAG_AT;
        let counter = b.force_counter.unwrap_or(0);

        let (key, secret) = PrivateKey::generate(algorithm).map_err(|e| self.rng(e))?;
        let mut credential_id = vec![0u8; 32];
        getrandom::fill(&mut credential_id).map_err(|e| self.rng(e))?;

        let mut auth_data = ctap::auth_data(req.rp_id, flags, counter);
        ctap::push_attested(
            &mut auth_data,
            &b.aaguid,
            &credential_id,
            &key.cose_public_key(),
        );
        let statement = match b.attestation {
            AttestationFormat::Packed => Some((
                key.algorithm().cose_id(),
                key.sign(&auth_data, req.client_data_hash),
            )),
            AttestationFormat::None => None,
        };
        file.credentials.push(StoredCredential {
            credential_id,
            rp_id: req.rp_id.to_owned(),
            algorithm,
            private_key: *secret,
            counter,
        });
        self.store(&file)?;
        Ok(ctap::attestation_object(&auth_data, statement))
    }

    /// authenticatorGetAssertion: signs with the first credential of `req.rp_id` in the
    /// allow list (any of the RP's when the list is empty) and stores its new counter.
    /// With [`Behaviour::stall_ms`] it first waits that long, holding no lock (a caller
    /// that gives up and kills the process leaves the key file usable).
    pub fn get_assertion(&self, req: &GetAssertionRequest<'_>) -> Result<Assertion, SoftKeyError> {
        let stall = self.behaviour()?.stall_ms;
        if stall > 0 {
            // The point of this test knob: a key that keeps the caller waiting.
            std::thread::sleep(std::time::Duration::from_millis(stall));
        }
        let _lock = self.lock()?;
        let mut file = self.load()?;
        let flags = user_flags(&file.behaviour, req.pin, req.require_uv)?;
        let (step, forced) = (file.behaviour.counter_step, file.behaviour.force_counter);
        let credential = file
            .credentials
            .iter_mut()
            .find(|c| {
                c.rp_id == req.rp_id
                    && (req.allow_list.is_empty() || req.allow_list.contains(&c.credential_id))
            })
            .ok_or(SoftKeyError::NoCredentials)?;
        let counter = forced.unwrap_or_else(|| credential.counter.wrapping_add(step));
        credential.counter = counter;

        let key = PrivateKey::from_bytes(credential.algorithm, &credential.private_key)
            .ok_or_else(|| self.format("a stored P-256 private key is out of range".into()))?;
        let auth_data = ctap::auth_data(req.rp_id, flags, counter);
        let signature = key.sign(&auth_data, req.client_data_hash);
        let credential_id = credential.credential_id.clone();
        self.store(&file)?;
        Ok(Assertion {
            credential_id,
            auth_data,
            signature,
        })
    }

    fn lock(&self) -> Result<File, SoftKeyError> {
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| self.io(e))?;
        // A sidecar file, not the key file: the key file is replaced by rename, and a lock on
        // a replaced inode would not exclude anyone. Released when the File is dropped.
        lock.lock().map_err(|e| self.io(e))?;
        Ok(lock)
    }

    fn load(&self) -> Result<KeyFile, SoftKeyError> {
        let bytes = fs::read(&self.path).map_err(|e| self.io(e))?;
        let file: KeyFile =
            serde_json::from_slice(&bytes).map_err(|e| self.format(e.to_string()))?;
        if file.format != MARKER {
            return Err(SoftKeyError::NotAKeyFile {
                path: self.path.clone(),
            });
        }
        Ok(file)
    }

    fn store(&self, file: &KeyFile) -> Result<(), SoftKeyError> {
        let json = serde_json::to_vec_pretty(file).map_err(|e| self.format(e.to_string()))?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".tmp{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut out = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)?;
            out.write_all(&json)?;
            out.sync_all()?;
            fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            self.io(e)
        })
    }

    fn io(&self, source: std::io::Error) -> SoftKeyError {
        SoftKeyError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn rng(&self, e: getrandom::Error) -> SoftKeyError {
        self.io(std::io::Error::other(format!(
            "OS random number generator: {e}"
        )))
    }

    fn format(&self, detail: String) -> SoftKeyError {
        SoftKeyError::Format {
            path: self.path.clone(),
            detail,
        }
    }
}

/// The UP and UV flags for a request, or the PIN error a key would return.
fn user_flags(b: &Behaviour, pin: Option<&str>, require_uv: bool) -> Result<u8, SoftKeyError> {
    let pin_ok = match (pin, b.pin.as_deref()) {
        (Some(_), None) => return Err(SoftKeyError::PinNotSet),
        (Some(given), Some(set)) if given != set => return Err(SoftKeyError::PinInvalid),
        (Some(_), Some(_)) => true,
        (None, Some(_)) if require_uv && !b.uv => return Err(SoftKeyError::PinRequired),
        (None, _) => false,
    };
    let mut flags = 0;
    if b.up {
        flags |= FLAG_UP;
    }
    if b.uv || pin_ok {
        flags |= FLAG_UV;
    }
    Ok(flags)
}

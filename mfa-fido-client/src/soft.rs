//! The TEST-ONLY software key behind the [`Authenticator`] trait (feature `soft`).

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use mfa_softkey::{SoftKey, SoftKeyError};

use crate::{
    Algorithm, Authenticator, ClientError, GetAssertionRequest, GetAssertionResponse,
    MakeCredentialRequest, MakeCredentialResponse, check_request,
};

/// The software key of `mfa-softkey`, read from its key file at each call. A missing key
/// file plays an unplugged key ([`ClientError::NoDevice`]).
#[derive(Debug, Clone)]
pub struct SoftAuthenticator {
    path: PathBuf,
}

impl SoftAuthenticator {
    /// A software key backed by the key file at `path` (which need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SoftAuthenticator { path: path.into() }
    }

    fn key(&self) -> Result<SoftKey, ClientError> {
        SoftKey::open(&self.path).map_err(map_error)
    }
}

impl Authenticator for SoftAuthenticator {
    fn make_credential(
        &self,
        request: &MakeCredentialRequest,
    ) -> Result<MakeCredentialResponse, ClientError> {
        check_request(&request.rp_id, &request.challenge)?;
        let hash: [u8; 32] = Sha256::digest(&request.challenge).into();
        let algorithms: Vec<mfa_softkey::Algorithm> = request
            .algorithms
            .iter()
            .map(|a| soft_algorithm(*a))
            .collect();
        let attestation_object = self
            .key()?
            .make_credential(&mfa_softkey::MakeCredentialRequest {
                rp_id: &request.rp_id,
                client_data_hash: &hash,
                algorithms: &algorithms,
                exclude_list: &request.exclude_credentials,
                pin: request.pin.as_deref().map(String::as_str),
                require_uv: request.require_uv,
            })
            .map_err(map_error)?;
        Ok(MakeCredentialResponse { attestation_object })
    }

    fn get_assertion(
        &self,
        request: &GetAssertionRequest,
    ) -> Result<GetAssertionResponse, ClientError> {
        check_request(&request.rp_id, &request.challenge)?;
        let hash: [u8; 32] = Sha256::digest(&request.challenge).into();
        let assertion = self
            .key()?
            .get_assertion(&mfa_softkey::GetAssertionRequest {
                rp_id: &request.rp_id,
                client_data_hash: &hash,
                allow_list: &request.allow_credentials,
                pin: request.pin.as_deref().map(String::as_str),
                require_uv: request.require_uv,
            })
            .map_err(map_error)?;
        Ok(GetAssertionResponse {
            credential_id: assertion.credential_id,
            auth_data: assertion.auth_data,
            signature: assertion.signature,
        })
    }
}

fn soft_algorithm(alg: Algorithm) -> mfa_softkey::Algorithm {
    match alg {
        Algorithm::Es256 => mfa_softkey::Algorithm::Es256,
        Algorithm::EdDsa => mfa_softkey::Algorithm::EdDsa,
    }
}

fn map_error(e: SoftKeyError) -> ClientError {
    match e {
        SoftKeyError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            ClientError::NoDevice
        }
        SoftKeyError::NoCredentials => ClientError::NoCredentials,
        SoftKeyError::CredentialExcluded => ClientError::CredentialExcluded,
        SoftKeyError::UnsupportedAlgorithm => ClientError::UnsupportedAlgorithm,
        SoftKeyError::PinRequired => ClientError::PinRequired,
        SoftKeyError::PinInvalid => ClientError::PinInvalid,
        SoftKeyError::PinNotSet => ClientError::PinNotSet,
        other @ (SoftKeyError::Io { .. }
        | SoftKeyError::Format { .. }
        | SoftKeyError::NotAKeyFile { .. }) => ClientError::Device(other.to_string()),
    }
}

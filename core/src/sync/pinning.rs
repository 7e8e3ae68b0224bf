//! Certificate pinning: the phone accepts the server only if ordinary chain validation
//! passes *and* the validated chain holds a key the bureau told it to expect.
//!
//! Chain validation alone trusts every CA in the phone's root set: a certificate mis-issued
//! for the bureau's name, or an interception proxy whose CA was installed on a bureau network,
//! passes it. A pin names the key itself, so neither passes a pinned client.
//!
//! A pin is the SHA-256 of a certificate's DER `SubjectPublicKeyInfo`, written
//! `sha256/<base64>` as OkHttp and HPKP do (so `openssl ... | base64` output and OkHttp's
//! `CertificatePinner` strings can be pasted unchanged). Pinning the leaf key or the key of
//! any CA on the path (the bureau's own CA, an intermediate, the root used as trust anchor)
//! all work: pinning a CA survives leaf renewals, pinning the leaf survives a CA change.
//!
//! [`PinnedVerifier`] wraps rustls' `WebPkiServerVerifier`, which does every signature, name
//! and time check; it then asks rustls-webpki for a validated path whose certificates include
//! a pinned key, so a cross-signed chain with several possible paths is pinned on any of them.

use crate::{CoreError, Result};
use base64::Engine as _;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The prefix of a pin's text form.
const PREFIX: &str = "sha256/";

/// The SHA-256 of a certificate's `SubjectPublicKeyInfo`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpkiPin([u8; 32]);

impl std::fmt::Debug for SpkiPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpkiPin({self})")
    }
}

impl std::fmt::Display for SpkiPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }
}

impl std::str::FromStr for SpkiPin {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self> {
        SpkiPin::parse(s)
    }
}

impl SpkiPin {
    /// Parses `sha256/<base64 of 32 bytes>` (surrounding blanks ignored). The prefix is
    /// required so a pin of another hash, or a hex fingerprint of the whole certificate,
    /// is refused rather than silently never matching.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        let b64 = s.strip_prefix(PREFIX).ok_or_else(|| {
            CoreError::invalid("pin", "expected sha256/<base64 of the key's SHA-256>")
        })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| CoreError::invalid("pin", "the part after sha256/ is not base64"))?;
        let hash = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
            CoreError::invalid("pin", "a SHA-256 pin is 32 bytes (44 base64 characters)")
        })?;
        Ok(SpkiPin(hash))
    }

    /// Parses every pin of a list; the first malformed one fails the whole list.
    pub fn parse_all<S: AsRef<str>>(pins: &[S]) -> Result<Vec<Self>> {
        pins.iter().map(|p| SpkiPin::parse(p.as_ref())).collect()
    }

    /// The pin of a DER-encoded SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> Self {
        SpkiPin(Sha256::digest(spki_der).into())
    }

    /// The pin of a DER-encoded X.509 certificate's key.
    pub fn of_certificate(der: &[u8]) -> Result<Self> {
        let cert = CertificateDer::from(der);
        let parsed = webpki::EndEntityCert::try_from(&cert)
            .map_err(|e| CoreError::invalid("certificate", e.to_string()))?;
        Ok(SpkiPin::of_spki(parsed.subject_public_key_info().as_ref()))
    }

    /// The pins of every certificate in a PEM file, in file order (leaf first in a chain
    /// file as servers load it).
    pub fn of_pem(pem: &[u8]) -> Result<Vec<Self>> {
        let mut reader = std::io::BufReader::new(pem);
        let mut pins = Vec::new();
        for cert in rustls_pemfile::certs(&mut reader) {
            let cert = cert.map_err(|e| CoreError::invalid("certificate", e.to_string()))?;
            pins.push(SpkiPin::of_certificate(cert.as_ref())?);
        }
        if pins.is_empty() {
            return Err(CoreError::invalid(
                "certificate",
                "no PEM certificate found in the file",
            ));
        }
        Ok(pins)
    }
}

/// The reason a pinned handshake was refused; travels inside rustls' and reqwest's errors so
/// the client can tell it from an ordinary network failure.
#[derive(Debug, thiserror::Error)]
#[error("the server's certificate chain holds no pinned key")]
struct PinMismatch;

/// Whether `e` (a transport error) or anything it wraps is a refused pin.
pub(crate) fn is_pin_mismatch(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(o)))) =
            err.downcast_ref::<rustls::Error>()
            && o.downcast_ref::<PinMismatch>().is_some()
        {
            return true;
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            // `io::Error::source` skips the error it wraps: step into it instead.
            Some(io) => io
                .get_ref()
                .map(|i| i as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

/// Chain validation by rustls, then the pin check.
#[derive(Debug)]
pub(crate) struct PinnedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
    pins: Vec<SpkiPin>,
}

impl PinnedVerifier {
    /// A verifier trusting `roots` and requiring one of `pins` (not empty) on the path.
    pub(crate) fn new(
        roots: Arc<RootCertStore>,
        provider: Arc<rustls::crypto::CryptoProvider>,
        pins: Vec<SpkiPin>,
    ) -> Result<Self> {
        if pins.is_empty() {
            return Err(CoreError::invalid("pins", "a pinned client needs a pin"));
        }
        let algorithms = provider.signature_verification_algorithms;
        let inner = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider)
            .build()
            .map_err(|e| CoreError::invalid("tls", e.to_string()))?;
        Ok(PinnedVerifier {
            inner,
            roots,
            algorithms,
            pins,
        })
    }

    fn pinned(&self, spki_der: &[u8]) -> bool {
        self.pins.contains(&SpkiPin::of_spki(spki_der))
    }

    fn path_is_pinned(&self, path: &webpki::VerifiedPath<'_>) -> bool {
        self.pinned(path.end_entity().subject_public_key_info().as_ref())
            || path
                .intermediate_certificates()
                .any(|c| self.pinned(c.subject_public_key_info().as_ref()))
            || self.pinned(webpki::spki_for_anchor(path.anchor()).as_ref())
    }
}

fn mismatch() -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(PinMismatch))))
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        // The chain is valid; find a path (the same checks again, now with the pin as a
        // condition on the path) whose certificates include a pinned key.
        let ee = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let check = |path: &webpki::VerifiedPath<'_>| {
            if self.path_is_pinned(path) {
                Ok(())
            } else {
                Err(webpki::Error::UnknownIssuer)
            }
        };
        match ee.verify_for_usage(
            self.algorithms.all,
            &self.roots.roots,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            Some(&check),
        ) {
            Ok(_) => Ok(verified),
            Err(_) => Err(mismatch()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_round_trip_through_their_text_form() {
        let pin = SpkiPin::of_spki(b"not really a key");
        let text = pin.to_string();
        assert!(
            text.starts_with("sha256/") && text.len() == 7 + 44,
            "{text}"
        );
        assert_eq!(SpkiPin::parse(&format!("  {text}\n")).ok(), Some(pin));
    }

    #[test]
    fn malformed_pins_are_refused_with_the_field_named() {
        let good = SpkiPin::of_spki(b"k").to_string();
        let b64 = good.trim_start_matches("sha256/").to_string();
        for bad in [
            b64.as_str(),                        // no prefix
            "sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=", // another hash
            "sha256/not base64!",
            "sha256/AAAA", // too short
            "",
        ] {
            assert!(
                matches!(SpkiPin::parse(bad), Err(CoreError::InvalidInput { ref field, .. }) if field == "pin"),
                "{bad:?} was accepted"
            );
        }
        assert!(SpkiPin::parse_all(&[good.as_str(), "sha256/x"]).is_err());
    }

    #[test]
    fn a_refused_pin_is_found_however_deep_the_transport_wraps_it() {
        let once = std::io::Error::new(std::io::ErrorKind::InvalidData, mismatch());
        let twice = std::io::Error::other(once);
        assert!(is_pin_mismatch(&twice));
        let other = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert!(!is_pin_mismatch(&other));
    }

    #[test]
    fn a_file_without_certificates_has_no_pin() {
        assert!(matches!(
            SpkiPin::of_pem(b"hello"),
            Err(CoreError::InvalidInput { .. })
        ));
        assert!(SpkiPin::of_certificate(b"\x30\x03\x02\x01\x00").is_err());
    }
}

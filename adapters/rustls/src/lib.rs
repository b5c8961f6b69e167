//! The rustls server configuration both actionhero-ws adapters serve TLS with: PEM
//! certificate chain and key, the ring provider (no OpenSSL), TLS 1.2 and 1.3 with
//! rustls's safe defaults, ALPN `http/1.1`. Each adapter re-exports it as its `tls`
//! module; it makes no protocol decision (docs/architecture.md#thin-adapters).

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// A server configuration from PEM text: `cert_chain` holds the certificate first, then
/// any intermediates; `key` holds its private key (PKCS #8, PKCS #1 or SEC1). TLS 1.2
/// and 1.3 with rustls's safe defaults, ALPN `http/1.1`, no client certificates.
///
/// # Errors
/// `InvalidData` for PEM without a certificate or key, or a key that does not match or
/// that the ring provider cannot use.
pub fn server_config(cert_chain: &[u8], key: &[u8]) -> io::Result<Arc<ServerConfig>> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let certs = CertificateDer::pem_slice_iter(cert_chain)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("certificate PEM: no certificate".into()));
    }
    let key =
        PrivateKeyDer::from_pem_slice(key).map_err(|e| invalid(format!("private key PEM: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// [`server_config`] from two PEM files (they may be the same file).
///
/// # Errors
/// A file cannot be read (the error names it), or as [`server_config`].
pub fn server_config_from_files(
    cert_chain: impl AsRef<Path>,
    key: impl AsRef<Path>,
) -> io::Result<Arc<ServerConfig>> {
    let read = |path: &Path| {
        std::fs::read(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
    };
    server_config(&read(cert_chain.as_ref())?, &read(key.as_ref())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_from_generated_pem_and_refuses_bad_input() {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = certified.cert.pem();
        let key = certified.signing_key.serialize_pem();
        let config = server_config(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);

        let no_cert = server_config(b"", key.as_bytes()).unwrap_err();
        assert_eq!(no_cert.kind(), io::ErrorKind::InvalidData);
        assert!(no_cert.to_string().contains("no certificate"), "{no_cert}");
        let no_key = server_config(cert.as_bytes(), cert.as_bytes()).unwrap_err();
        assert!(no_key.to_string().contains("private key"), "{no_key}");
        let other = rcgen::generate_simple_self_signed(vec!["x".to_owned()]).unwrap();
        let mismatch = server_config(
            cert.as_bytes(),
            other.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap_err();
        assert!(
            mismatch.to_string().contains("certificate and key"),
            "{mismatch}"
        );
        let missing =
            server_config_from_files("/nonexistent/cert.pem", "/nonexistent/key.pem").unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/cert.pem"),
            "{missing}"
        );
    }
}

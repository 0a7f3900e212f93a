//! TLS for SMPP links (`tls = true`): a tokio-rustls client that verifies
//! the SMSC's certificate with the platform's verifier (the operating
//! system's trust store), or — with `tls_insecure = true`, for test SMSCs
//! only — accepts any certificate while still checking the handshake
//! signatures.
//!
//! This module builds the connector and wraps a TCP stream; it does not
//! dial, retry or speak SMPP.

use std::sync::Arc;

use anyhow::Context as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::BuilderVerifierExt as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::SmppConfig;

/// A TLS client for one connector's sessions.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl Tls {
    /// Builds the client for `cfg.host`; fails on a host that cannot be a
    /// TLS server name or when the platform verifier cannot start.
    pub fn new(cfg: &SmppConfig) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let config = if cfg.tls_insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate {
                    algorithms: provider.signature_verification_algorithms,
                }))
                .with_no_client_auth()
        } else {
            builder
                .with_platform_verifier()
                .context("the platform certificate verifier")?
                .with_no_client_auth()
        };
        let server_name = ServerName::try_from(cfg.host.clone())
            .with_context(|| format!("'{}' is not a valid TLS server name", cfg.host))?;
        Ok(Self { connector: TlsConnector::from(Arc::new(config)), server_name })
    }

    /// The TLS handshake over an open TCP connection.
    pub async fn wrap(&self, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        self.connector.connect(self.server_name.clone(), tcp).await
    }
}

/// `tls_insecure`: any certificate is taken, but the handshake must still be
/// signed by the key in it.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

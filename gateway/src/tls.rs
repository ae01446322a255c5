//! TLS on the SCIM listener, built in and optional (`[server] tls`), with
//! the certificate read again when its files change: a renewed certificate
//! (certbot, cert-manager) is served to new connections without a restart.
//! A pair that does not load is refused with a log line and the running one
//! stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

/// How often the certificate files' modification times are looked at.
const WATCH_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// The listener's current certificate, swapped when its files change.
pub struct TlsCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<(Arc<ServerConfig>, Stamps)>,
}

type Stamps = (Option<SystemTime>, Option<SystemTime>);

impl TlsCertificate {
    /// Load the pair now: a gateway whose certificate does not load does not start.
    pub fn load(config: &TlsConfig) -> Result<Arc<TlsCertificate>, TlsError> {
        let (cert_file, key_file) = (config.cert_file.clone(), config.key_file.clone());
        let stamps = stamps(&cert_file, &key_file);
        let server = server_config(&cert_file, &key_file)?;
        Ok(Arc::new(TlsCertificate { cert_file, key_file, current: RwLock::new((server, stamps)) }))
    }

    /// The acceptor for the next connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().unwrap_or_else(|p| p.into_inner()).0.clone())
    }

    /// Reload when the files' modification times changed; returns whether
    /// a new certificate is now served.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamps(&self.cert_file, &self.key_file);
        if self.current.read().unwrap_or_else(|p| p.into_inner()).1 == now {
            return false;
        }
        match server_config(&self.cert_file, &self.key_file) {
            Ok(server) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = (server, now);
                tracing::info!(cert = %self.cert_file.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                // Remember the stamps so that a half-written pair is retried
                // on its next change, not logged every second.
                self.current.write().unwrap_or_else(|p| p.into_inner()).1 = now;
                tracing::error!(error = %e, "new TLS certificate refused; serving the previous one");
                false
            }
        }
    }

    /// Watch the files until the task is dropped.
    pub async fn watch(self: Arc<Self>) {
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            let this = self.clone();
            let _ = tokio::task::spawn_blocking(move || this.reload_if_changed()).await;
        }
    }
}

fn stamps(cert: &Path, key: &Path) -> Stamps {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (modified(cert), modified(key))
}

fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let file_error = |path: &Path, message: String| TlsError::File { path: path.display().to_string(), message };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| file_error(cert_file, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert_file, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(cert_file, "no certificate in it".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| file_error(key_file, e.to_string()))?;
    let mut server = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

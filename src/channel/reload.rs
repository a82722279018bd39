//! TLS files a server reads again when they change (the conf's `tls_reload`), so rotated
//! certificates (cert-manager, Vault) are served without a restart. The core asks before
//! each new connection; open connections keep the certificate they started with.

use std::fs;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use grpcio::{CertificateRequestType, ServerCredentials, ServerCredentialsBuilder, ServerCredentialsFetcher};

use super::{read_pem, PemError};
use crate::sync::lock;

/// The key, certificate and (for mutual TLS) CA files of a server, as the conf names them.
pub(crate) struct TlsFiles {
    pub(crate) key: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) ca: Option<PathBuf>,
}

/// When each file last changed, and its size: a cheap look on every new connection, which
/// reads the files only when this differs from the last look.
type Stamp = Vec<Option<(SystemTime, u64)>>;

impl TlsFiles {
    fn stamp(&self) -> Stamp {
        let paths = [Some(&self.key), Some(&self.cert), self.ca.as_ref()];
        paths
            .into_iter()
            .flatten()
            .map(|path| fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len()))))
            .collect()
    }

    /// The credentials the files hold now, each file checked as at start.
    pub(crate) fn builder(&self) -> Result<ServerCredentialsBuilder, PemError> {
        let key = read_pem("server_key", &self.key, "PRIVATE KEY")?;
        let cert = read_pem("server_cert", &self.cert, "CERTIFICATE")?;
        let mut builder = ServerCredentialsBuilder::new().add_cert(cert, key);
        if let Some(ca) = &self.ca {
            builder = builder.root_cert(read_pem("ca_cert", ca, "CERTIFICATE")?, self.request_type());
        }
        Ok(builder)
    }

    fn request_type(&self) -> CertificateRequestType {
        match self.ca {
            Some(_) => CertificateRequestType::RequestAndRequireClientCertificateAndVerify,
            None => CertificateRequestType::DontRequestClientCertificate,
        }
    }

    /// Credentials that follow the files: read now (an error names the key, as at any start)
    /// and again whenever they change.
    pub(crate) fn reloading(self) -> Result<ServerCredentials, PemError> {
        self.builder()?;
        let request_type = self.request_type();
        let fetcher = Reloading { files: self, seen: Mutex::new(None) };
        Ok(ServerCredentials::with_fetcher(Box::new(fetcher), request_type))
    }
}

struct Reloading {
    files: TlsFiles,
    // The files as last read; `None` until the core's first ask, at start.
    seen: Mutex<Option<Stamp>>,
}

impl ServerCredentialsFetcher for Reloading {
    fn fetch(&self) -> Result<Option<ServerCredentialsBuilder>, Box<dyn std::error::Error>> {
        let stamp = self.files.stamp();
        let mut seen = lock(&self.seen);
        if seen.as_ref() == Some(&stamp) {
            return Ok(None);
        }
        let first = seen.is_none();
        // Recorded either way, so a bad file is reported once, not on every connection.
        *seen = Some(stamp);
        match self.files.builder() {
            Ok(builder) => {
                if !first {
                    log::info!("TLS files changed: new connections get the new certificate");
                }
                Ok(Some(builder))
            }
            Err(PemError { key, message }) => {
                log::error!("TLS files changed but `{key}` cannot be used ({message}); serving the certificate in use");
                Ok(None)
            }
        }
    }
}

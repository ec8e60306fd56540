//! The database URL: libpq's syntax, read into tokio-postgres' settings,
//! with libpq's `sslmode` values (tokio-postgres knows only three) kept
//! for the TLS set-up here.
//!
//! Errors never quote the URL: it may hold a password.

use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode;

/// How the connection is secured, as libpq's `sslmode` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, the certificate not checked
    /// (libpq's default).
    Prefer,
    /// TLS always, the certificate not checked.
    Require,
    /// TLS always, the certificate checked against the system's trust
    /// store (or `sslrootcert`) and the host name.
    VerifyFull,
}

/// A parsed database URL.
#[derive(Clone)]
pub struct DatabaseUrl {
    pub config: tokio_postgres::Config,
    pub tls: TlsMode,
    /// `sslrootcert`: a PEM file of the CA certificates to trust instead
    /// of the system's.
    pub root_cert: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // tokio-postgres' own Debug redacts the password.
        f.debug_struct("DatabaseUrl")
            .field("config", &self.config)
            .field("tls", &self.tls)
            .finish()
    }
}

impl DatabaseUrl {
    /// Reads a `postgres://` URL (or libpq's `key=value` form).
    pub fn parse(text: &str) -> Result<DatabaseUrl, String> {
        let text = text.trim();
        let (rest, tls, root_cert) = take_tls_params(text)?;
        let mut config = tokio_postgres::Config::from_str(&rest).map_err(|e| {
            format!("not a PostgreSQL URL ({e}); expected postgres://user@host/database")
        })?;
        if config.get_hosts().is_empty() {
            return Err("the URL names no host".to_string());
        }
        if config.get_dbname().is_none() {
            return Err("the URL names no database".to_string());
        }
        config.ssl_mode(match tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyFull => SslMode::Require,
        });
        if config.get_application_name().is_none() {
            config.application_name("cronduct");
        }
        Ok(DatabaseUrl {
            config,
            tls,
            root_cert,
        })
    }

    /// The TLS connector for this URL's `sslmode`.
    pub fn connector(&self) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?;
        let config = match self.tls {
            TlsMode::VerifyFull => {
                let mut roots = rustls::RootCertStore::empty();
                match &self.root_cert {
                    Some(path) => {
                        use rustls::pki_types::pem::PemObject;
                        let certs = CertificateDer::pem_file_iter(path)
                            .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                        for cert in certs {
                            let cert =
                                cert.map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                            roots
                                .add(cert)
                                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                        }
                    }
                    None => {
                        let found = rustls_native_certs::load_native_certs();
                        for cert in found.certs {
                            let _ = roots.add(cert);
                        }
                    }
                }
                if roots.is_empty() {
                    return Err(
                        "sslmode=verify-full, but no trusted CA certificate was found \
                         (install ca-certificates, or name one with sslrootcert=)"
                            .to_string(),
                    );
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
                .with_no_client_auth(),
        };
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }
}

/// Takes `sslmode` and `sslrootcert` out of `text`, in either syntax.
fn take_tls_params(text: &str) -> Result<(String, TlsMode, Option<std::path::PathBuf>), String> {
    let mut mode = None;
    let mut root = None;
    let mut take = |key: &str, value: &str| -> Result<bool, String> {
        match key {
            "sslmode" => {
                mode = Some(match value {
                    "disable" => TlsMode::Disable,
                    "prefer" | "allow" => TlsMode::Prefer,
                    "require" => TlsMode::Require,
                    "verify-full" => TlsMode::VerifyFull,
                    other => {
                        return Err(format!(
                            "sslmode={other} is not supported; use disable, prefer, require \
                             or verify-full"
                        ));
                    }
                });
                Ok(true)
            }
            "sslrootcert" => {
                root = Some(std::path::PathBuf::from(value));
                Ok(true)
            }
            _ => Ok(false),
        }
    };
    let rest = if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        match text.split_once('?') {
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    if !take(k, &percent_decode(v))? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => text.to_string(),
        }
    } else {
        let mut kept = Vec::new();
        for word in text.split_whitespace() {
            let (k, v) = word.split_once('=').unwrap_or((word, ""));
            if !take(k, v.trim_matches('\''))? {
                kept.push(word);
            }
        }
        kept.join(" ")
    };
    Ok((rest, mode.unwrap_or(TlsMode::Prefer), root))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `sslmode` `prefer` and `require`: encrypted, but any certificate is
/// accepted, as libpq does for these modes. Signatures are still
/// checked, so the handshake itself is sound.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_sslmodes_are_read_and_the_rest_is_kept() {
        let cases = [
            ("postgres://u@db/x", TlsMode::Prefer),
            ("postgres://u@db/x?sslmode=disable", TlsMode::Disable),
            ("postgres://u@db/x?sslmode=require", TlsMode::Require),
            (
                "postgres://u@db1,db2/x?sslmode=verify-full&target_session_attrs=read-write",
                TlsMode::VerifyFull,
            ),
            (
                "host=db user=u dbname=x sslmode=verify-full",
                TlsMode::VerifyFull,
            ),
        ];
        for (url, mode) in cases {
            let parsed = DatabaseUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(parsed.tls, mode, "{url}");
            assert_eq!(parsed.config.get_dbname(), Some("x"), "{url}");
        }
        let two = DatabaseUrl::parse(
            "postgres://u@db1,db2/x?sslmode=verify-full&target_session_attrs=read-write",
        )
        .expect("valid");
        assert_eq!(two.config.get_hosts().len(), 2);
        assert_eq!(
            two.config.get_target_session_attrs(),
            tokio_postgres::config::TargetSessionAttrs::ReadWrite
        );
    }

    #[test]
    fn errors_never_show_the_password() {
        for bad in [
            "postgres://u:hunter2@db/x?sslmode=verify-ca",
            "postgres://u:hunter2@db/x?bogus=1",
            "postgres://u:hunter2@/x",
            "mysql://u:hunter2@db/x",
        ] {
            let e = DatabaseUrl::parse(bad).expect_err(bad);
            assert!(!e.contains("hunter2"), "{bad}: {e}");
        }
        let ok = DatabaseUrl::parse("postgres://u:hunter2@db/x").expect("valid");
        assert!(!format!("{ok:?}").contains("hunter2"));
    }
}

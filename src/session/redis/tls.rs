//! Trust for `rediss://` servers signed by a private CA (`OIDC_EXTRA_CA_FILE`).
//!
//! The redis crate trusts the Mozilla roots it was built with, and given certificates it
//! trusts those only. So the extra CA is handed over together with the same Mozilla roots
//! (as PEM), and Redis trusts what the provider's HTTP client trusts. deadpool-redis cannot
//! pass certificates on for Sentinel or Cluster, so with an extra CA the connections come
//! from the redis crate's clients directly; every store call is bounded in time anyway.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use redis::cluster::ClusterClientBuilder;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Client, ConnectionAddr, RedisResult, TlsCertificates, TlsMode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::config::RedisMode;

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read OIDC_EXTRA_CA_FILE `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("OIDC_EXTRA_CA_FILE `{}` holds no PEM certificate", .path.display())]
    NoCertificate { path: PathBuf },
}

/// The Mozilla roots and the certificates of `extra_ca`, for `rediss://` connections.
pub(crate) fn certificates(extra_ca: &Path) -> Result<TlsCertificates, TrustError> {
    let pem = std::fs::read(extra_ca).map_err(|source| TrustError::Read {
        path: extra_ca.to_owned(),
        source,
    })?;
    let extra: Vec<CertificateDer> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
    if extra.is_empty() {
        return Err(TrustError::NoCertificate {
            path: extra_ca.to_owned(),
        });
    }
    let mut roots = String::new();
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().chain(&extra) {
        roots.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in STANDARD.encode(der.as_ref()).as_bytes().chunks(64) {
            roots.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            roots.push('\n');
        }
        roots.push_str("-----END CERTIFICATE-----\n");
    }
    Ok(TlsCertificates {
        client_tls: None,
        root_cert: Some(roots.into_bytes()),
    })
}

/// Whether the mode connects over TLS at all (an extra CA matters only then).
pub(crate) fn uses_tls(mode: &RedisMode) -> bool {
    match mode {
        RedisMode::Standalone { url } => url.expose().starts_with("rediss://"),
        RedisMode::Sentinel { tls, .. } => *tls,
        RedisMode::Cluster { nodes } => nodes.iter().any(|n| n.expose().starts_with("rediss://")),
    }
}

/// The redis crate's own clients, built with the certificates.
pub(crate) enum Clients {
    Standalone(Client),
    /// Asks the sentinels for the master at every connection (`&mut`: hence the lock).
    Sentinel(tokio::sync::Mutex<SentinelClient>),
    Cluster(redis::cluster::ClusterClient),
}

impl Clients {
    pub(crate) fn new(mode: &RedisMode, certs: TlsCertificates) -> RedisResult<Self> {
        Ok(match mode {
            RedisMode::Standalone { url } => Self::Standalone(Client::build_with_tls(url.expose(), certs)?),
            RedisMode::Sentinel {
                sentinels,
                master,
                sentinel_password,
                node_username,
                node_password,
                db,
                tls: _,
            } => {
                // The sentinels over TLS too, as without an extra CA (see `connection`).
                let addrs = sentinels.iter().map(|(host, port)| ConnectionAddr::TcpTls {
                    host: host.clone(),
                    port: *port,
                    insecure: false,
                    tls_params: None,
                });
                let mut builder = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)?
                    .set_client_to_sentinel_tls_mode(TlsMode::Secure)
                    .set_client_to_sentinel_certificates(certs.clone())
                    .set_client_to_redis_tls_mode(TlsMode::Secure)
                    .set_client_to_redis_certificates(certs)
                    .set_client_to_redis_db(*db);
                if let Some(pw) = sentinel_password {
                    builder = builder.set_client_to_sentinel_password(pw.expose());
                }
                if let Some(user) = node_username {
                    builder = builder.set_client_to_redis_username(user);
                }
                if let Some(pw) = node_password {
                    builder = builder.set_client_to_redis_password(pw.expose());
                }
                Self::Sentinel(tokio::sync::Mutex::new(builder.build()?))
            }
            RedisMode::Cluster { nodes } => Self::Cluster(
                ClusterClientBuilder::new(nodes.iter().map(|n| n.expose().to_owned()))
                    .certs(certs)
                    .build()?,
            ),
        })
    }
}

/// Whether an error (or one of its causes) is a TLS certificate the server presented and
/// that is not trusted (unknown CA, wrong host name, expired): a configuration problem.
pub(crate) fn untrusted_certificate(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        // The redis crate keeps an I/O error in an `Arc`, and `io::Error` hides its payload
        // from `source()`: unwrap both by hand.
        let e = e
            .downcast_ref::<Arc<dyn Error + Send + Sync>>()
            .map_or(e, |arc| arc.as_ref() as &(dyn Error + 'static));
        let payload = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref());
        let payload = payload.map(|p| p as &(dyn Error + 'static));
        if [Some(e), payload].into_iter().flatten().any(|c| {
            matches!(
                c.downcast_ref::<rustls::Error>(),
                Some(rustls::Error::InvalidCertificate(_))
            )
        }) {
            return true;
        }
        next = e.source();
    }
    false
}

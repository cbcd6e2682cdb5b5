//! Certificates made at run time (rcgen): a private CA and a server certificate written as
//! PEM files that redis-server and the service read, and a self-signed https acceptor for
//! the forging provider (the kind a homelab provider has).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

pub struct TestTls {
    dir: PathBuf,
    /// The CA's certificate: what `OIDC_EXTRA_CA_FILE` must hold.
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The CA's certificate, PEM.
    pub ca_pem: String,
}

impl TestTls {
    /// A CA named `name` and a server certificate it signs.
    pub fn generate(name: &str) -> TestTls {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();

        let mut server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        server.distinguished_name.push(DnType::CommonName, "redis test server");
        // Redis uses the same certificate as a client (replication, cluster bus, sentinel).
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = server.signed_by(&key, &ca).unwrap();

        let dir = std::env::temp_dir().join(format!(
            "oidc-session-tls-{}-{}",
            std::process::id(),
            crate::support::redis::free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |file: &str, text: &str| -> PathBuf {
            let path = dir.join(file);
            std::fs::write(&path, text).unwrap();
            path
        };
        TestTls {
            ca_file: write("ca.pem", &ca.pem()),
            cert_file: write("server.pem", &cert.pem()),
            key_file: write("server-key.pem", &key.serialize_pem()),
            ca_pem: ca.pem(),
            dir,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// redis.conf lines: TLS on `port`, certificates of this CA, no client certificates.
    pub fn redis_conf(&self, tls_port: u16) -> String {
        format!(
            "tls-port {tls_port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients no\n",
            self.cert_file.display(),
            self.key_file.display(),
            self.ca_file.display()
        )
    }
}

impl Drop for TestTls {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Accepts TCP connections and completes a TLS handshake on each with a self-signed
/// certificate for `127.0.0.1` and `localhost`.
pub struct SelfSignedAcceptor {
    tcp: TcpAcceptor,
    tls: TlsAcceptor,
}

impl SelfSignedAcceptor {
    /// The acceptor and its certificate as PEM.
    pub fn new(tcp: TcpAcceptor) -> (Self, String) {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("generate a self-signed certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
        let config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .expect("a valid certificate and key");
        let tls = TlsAcceptor::from(Arc::new(config));
        (Self { tcp, tls }, certified.cert.pem())
    }
}

impl Acceptor for SelfSignedAcceptor {
    type Io = TlsStream<TcpStream>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.tcp.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let (tcp, local, remote, _) = self.tcp.accept().await?;
            // A client that refuses the certificate ends its handshake: wait for the next.
            if let Ok(tls) = self.tls.accept(tcp).await {
                return Ok((tls, local, remote, Scheme::HTTPS));
            }
        }
    }
}

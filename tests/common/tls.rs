//! A private CA and a server certificate for `127.0.0.1`/`localhost`, made fresh for a
//! test (rcgen) and written as PEM files that redis-server and the service read.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

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
            crate::common::redis::free_port()
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

    /// A redis client for `rediss://` URLs that trusts this CA only.
    pub fn client(&self, url: &str) -> ::redis::Client {
        ::redis::Client::build_with_tls(
            url,
            ::redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(self.ca_pem.clone().into_bytes()),
            },
        )
        .unwrap_or_else(|e| panic!("a TLS client for {url}: {e}"))
    }
}

impl Drop for TestTls {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

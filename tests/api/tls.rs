//! https for the forging provider: a self-signed certificate made at run time, the kind a
//! homelab provider has.

use std::io;
use std::sync::Arc;

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

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

//! Why the provider could not be reached, read from the error's typed causes (an I/O error's
//! kind, a rustls certificate error), never from its wording.

use std::error::Error;
use std::io;
use std::time::Duration;

use openidconnect::reqwest;
use rustls::CertificateError;
use url::{Host, Url};

use crate::config::ProviderSettings;

/// The cause of a request that got no HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The host name does not resolve (DNS).
    NameResolution,
    /// Nothing listens at that address and port.
    Refused,
    /// No answer within `OIDC_HTTP_TIMEOUT`.
    Timeout,
    /// The TLS certificate is not signed by a CA this service trusts (self-signed, private CA).
    UntrustedCertificate,
    /// The TLS certificate was issued for another name.
    CertificateNameMismatch,
    /// The TLS certificate has expired or is not valid yet.
    CertificateExpired,
    /// The server presents a CA certificate (`basicConstraints CA:TRUE`, what
    /// `openssl req -x509` makes by default): refused even when trusted.
    CaCertificateAsServer,
    /// Another TLS failure, as rustls describes it.
    Tls(String),
    /// Anything else: the error and its causes.
    Other(String),
}

/// The error, its causes, and the error an `io::Error` wraps (its `source()` skips that one).
fn causes<'a>(top: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
    let mut all = Vec::new();
    let mut next = Some(top);
    while let Some(error) = next {
        all.push(error);
        if all.len() > 32 {
            break;
        }
        next = match error.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => error.source(),
        };
    }
    all
}

fn tls_cause(error: &rustls::Error) -> Cause {
    match error {
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature | CertificateError::BadEncoding,
        ) => Cause::UntrustedCertificate,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => Cause::CertificateNameMismatch,
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => Cause::CertificateExpired,
        rustls::Error::InvalidCertificate(CertificateError::Other(other))
            if matches!(
                other.0.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            ) =>
        {
            Cause::CaCertificateAsServer
        }
        other => Cause::Tls(other.to_string()),
    }
}

/// Why a request to `url` failed. A connection failure with no recognisable cause is tried
/// once more as a name lookup: the resolver's error carries no kind that says "DNS".
pub(crate) async fn diagnose(error: &reqwest::Error, url: &Url, timeout: Duration) -> Cause {
    for cause in causes(error) {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return tls_cause(tls);
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return Cause::Refused,
                io::ErrorKind::TimedOut => return Cause::Timeout,
                _ => {}
            }
        }
    }
    if error.is_timeout() {
        return Cause::Timeout;
    }
    if let (true, Some(Host::Domain(name))) = (error.is_connect(), url.host()) {
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::time::timeout(timeout, tokio::net::lookup_host((name, port))).await;
        let resolved = match lookup {
            Ok(Ok(mut addrs)) => addrs.next().is_some(),
            _ => false,
        };
        if !resolved {
            return Cause::NameResolution;
        }
    }
    Cause::Other(crate::util::error_chain(error))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// One line: what could not be reached, why, and what to change. `fix` names the variable
/// that holds (or overrides) the URL; TLS causes name `OIDC_EXTRA_CA_FILE` instead.
pub(crate) fn line(what: &str, url: &Url, cause: &Cause, fix: &str, settings: &ProviderSettings) -> String {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or_default();
    match cause {
        Cause::NameResolution => {
            format!("cannot reach {what} at {url}: the host name `{host}` does not resolve here (DNS): {fix}")
        }
        Cause::Refused if is_loopback(url) => format!(
            "cannot reach {what} at {url}: connection refused at {host}:{port} (inside a container, {host} is the container itself, not the machine running the provider): {fix}"
        ),
        Cause::Refused => format!("cannot reach {what} at {url}: connection refused at {host}:{port}: {fix}"),
        Cause::Timeout => format!(
            "cannot reach {what} at {url}: no answer within {}s (OIDC_HTTP_TIMEOUT; a firewall or a wrong address): {fix}",
            settings.http_timeout.as_secs()
        ),
        Cause::UntrustedCertificate => match &settings.extra_ca_file {
            None => format!(
                "cannot reach {what} at {url}: its TLS certificate is not trusted (self-signed or signed by a private CA): set OIDC_EXTRA_CA_FILE to a PEM file holding that CA's certificate (or the self-signed certificate)"
            ),
            Some(path) => format!(
                "cannot reach {what} at {url}: its TLS certificate is not trusted, and OIDC_EXTRA_CA_FILE ({}) does not hold the CA that signed it: add that CA's certificate (PEM) to the file",
                path.display()
            ),
        },
        Cause::CertificateNameMismatch => format!(
            "cannot reach {what} at {url}: its TLS certificate is not issued for `{host}`: use the host name the certificate names: {fix}"
        ),
        Cause::CertificateExpired => format!(
            "cannot reach {what} at {url}: its TLS certificate has expired or is not valid yet: renew it at the provider (or check this machine's clock)"
        ),
        Cause::CaCertificateAsServer => format!(
            "cannot reach {what} at {url}: its TLS certificate is a CA certificate (basicConstraints CA:TRUE, the default of `openssl req -x509`), which TLS clients refuse as a server certificate even when trusted: give the provider a certificate with CA:FALSE (signed by that CA, or self-signed with `-addext basicConstraints=critical,CA:FALSE`) and put the CA, or that certificate, in OIDC_EXTRA_CA_FILE"
        ),
        Cause::Tls(detail) => format!("cannot reach {what} at {url}: the TLS handshake failed ({detail}): {fix}"),
        Cause::Other(detail) => format!("cannot reach {what} at {url}: {detail}: {fix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_reach_the_error_an_io_error_wraps() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, tls);
        let found = causes(&io)
            .into_iter()
            .find_map(|e| e.downcast_ref::<rustls::Error>().map(tls_cause));
        assert_eq!(found, Some(Cause::UntrustedCertificate));
    }

    #[test]
    fn certificate_errors_map_to_what_the_operator_must_change() {
        let cert = |e| tls_cause(&rustls::Error::InvalidCertificate(e));
        assert_eq!(cert(CertificateError::NotValidForName), Cause::CertificateNameMismatch);
        assert_eq!(cert(CertificateError::Expired), Cause::CertificateExpired);
        let ca = rustls::OtherError(std::sync::Arc::new(webpki::Error::CaUsedAsEndEntity));
        assert_eq!(cert(CertificateError::Other(ca)), Cause::CaCertificateAsServer);
        assert!(matches!(tls_cause(&rustls::Error::HandshakeNotComplete), Cause::Tls(_)));
    }

    #[test]
    fn a_refused_loopback_connection_mentions_containers() {
        let settings = crate::config::Settings::from_vars(vec![
            ("OIDC_ISSUER_URL".into(), "http://127.0.0.1:1".into()),
            ("OIDC_CLIENT_ID".into(), "rp".into()),
            (
                "OIDC_REDIRECT_URI".into(),
                "https://app.example.com/auth/callback".into(),
            ),
        ])
        .unwrap();
        let url = Url::parse("http://localhost:8081/token").unwrap();
        let text = line(
            "the token endpoint",
            &url,
            &Cause::Refused,
            "check X",
            &settings.provider,
        );
        assert!(
            text.contains("inside a container, localhost is the container itself"),
            "{text}"
        );
        assert!(text.ends_with("check X"), "{text}");
    }
}

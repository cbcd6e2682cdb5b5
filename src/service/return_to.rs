//! Where the browser may be sent after login: a path on the service's own origin, or a
//! URL on one of `OIDC_ALLOWED_RETURN_ORIGINS`. Nothing else (no open redirects).

use url::{Origin, Url};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReturnTo(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("return_to must be a path on this site or a URL on an allowed origin")]
pub(crate) struct ReturnToRejected;

impl ReturnTo {
    pub(crate) fn parse(raw: &str, own: &Origin, allowed: &[Origin]) -> Result<Self, ReturnToRejected> {
        // Browsers ignore tabs/newlines and treat `\` as `/` in URLs: anything of that kind
        // could turn a "path" into another host, so it is refused outright.
        if raw.is_empty() || raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c == '\\' || c.is_whitespace()) {
            return Err(ReturnToRejected);
        }
        if raw.starts_with('/') {
            if raw.starts_with("//") {
                return Err(ReturnToRejected);
            }
            // Resolve as a browser would (dot segments included) and make sure we stay home.
            // The resolved form is what is kept: `/..//evil.test` resolves to
            // `//evil.test`, which an app that redirects to its own pathname sends off-site.
            let base = Url::parse(&own.ascii_serialization()).map_err(|_| ReturnToRejected)?;
            let resolved = base.join(raw).map_err(|_| ReturnToRejected)?;
            return if &resolved.origin() == own && !resolved.path().starts_with("//") {
                Ok(Self(resolved[url::Position::BeforePath..].to_owned()))
            } else {
                Err(ReturnToRejected)
            };
        }
        let url = Url::parse(raw).map_err(|_| ReturnToRejected)?;
        let origin = url.origin();
        let allowed_origin = matches!(url.scheme(), "http" | "https")
            && !url.path().starts_with("//")
            && url.username().is_empty()
            && url.password().is_none()
            && (&origin == own || allowed.contains(&origin));
        if allowed_origin {
            Ok(Self(url.to_string()))
        } else {
            Err(ReturnToRejected)
        }
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Origin {
        Url::parse("https://app.example.com").unwrap().origin()
    }

    fn allowed() -> Vec<Origin> {
        vec![Url::parse("https://admin.example.com").unwrap().origin()]
    }

    #[test]
    fn paths_on_the_own_origin_and_allowed_origins_are_accepted() {
        for ok in [
            "/",
            "/dashboard?tab=1#x",
            "/a/%2F%2Fb",
            "https://admin.example.com/x",
            "https://app.example.com/y",
        ] {
            assert!(ReturnTo::parse(ok, &own(), &allowed()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn open_redirect_payloads_are_refused() {
        let payloads = [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "http://app.example.com",
            "https://app.example.com.evil.example",
            "https://admin.example.com@evil.example",
            "https://user@admin.example.com/",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,x",
            "/..//evil.example",
            "/./..//evil.example",
            "/a/../..//evil.example",
            "/%2e%2e//evil.example",
            "https://app.example.com/..//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "evil.example",
            "%2F%2Fevil.example",
            "https:evil.example",
            "https:/evil.example",
            "",
            " /x",
        ];
        for bad in payloads {
            assert_eq!(
                ReturnTo::parse(bad, &own(), &allowed()),
                Err(ReturnToRejected),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_path_is_kept_with_its_dot_segments_resolved() {
        let resolved = |raw: &str| ReturnTo::parse(raw, &own(), &allowed()).unwrap().into_string();
        assert_eq!(resolved("/a/../b?x=1#f"), "/b?x=1#f");
        assert_eq!(resolved("/a/./b/%2e%2e/c"), "/a/c");
        assert_eq!(resolved("/../x"), "/x");
        assert_eq!(resolved("/dashboard?tab=1"), "/dashboard?tab=1");
    }
}

//! Every scope of `OIDC_SCOPES` against the provider's `scopes_supported`.

use super::Report;
use crate::config::Settings;
use crate::oidc::discovery::Discovered;

pub(super) fn check(settings: &Settings, found: &Discovered, report: &mut Report) {
    let Some(metadata) = &found.metadata else {
        return;
    };
    let Some(supported) = metadata.scopes_supported() else {
        return report
            .warn("the provider does not list scopes_supported: OIDC_SCOPES cannot be checked before a sign-in");
    };
    let wanted = &settings.provider.scopes;
    // offline_access has its own line (a missing refresh token, not a failed login).
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|s| *s != "offline_access" && !supported.iter().any(|x| x.as_str() == s.as_str()))
        .collect();
    if missing.is_empty() {
        return report.ok(format!("scopes: {} supported", wanted.join(" ")));
    }
    let names: Vec<String> = missing.iter().map(|s| format!("`{s}`")).collect();
    let keep: Vec<&str> = wanted
        .iter()
        .filter(|s| !missing.contains(s))
        .map(String::as_str)
        .collect();
    let (noun, verb) = if missing.len() == 1 {
        ("scope", "is")
    } else {
        ("scopes", "are")
    };
    report.problem(format!(
        "{noun} {} of OIDC_SCOPES {verb} not in the provider's scopes_supported ({}): set OIDC_SCOPES=\"{}\", or enable {} at the provider",
        names.join(", "),
        supported.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
        keep.join(" "),
        if missing.len() == 1 { "it" } else { "them" },
    ));
}

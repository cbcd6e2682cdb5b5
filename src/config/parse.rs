//! Small value parsers shared by the configuration: durations, booleans, lists, origins.

use std::time::Duration;

use url::Url;

/// `90s`, `30m`, `8h`, `7d`, or plain seconds.
pub(crate) fn duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let (digits, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => value.split_at(i),
        None => (value, "s"),
    };
    let amount: u64 = digits.parse().map_err(|_| format!("`{value}` is not a duration"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{value}` has an unknown unit (use s, m, h or d)")),
    };
    amount
        .checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{value}` is too long"))
}

/// [`duration`], refused above `max` (itself a duration such as `5m`).
pub(crate) fn duration_at_most(value: &str, max: &str) -> Result<Duration, String> {
    let parsed = duration(value)?;
    if parsed > duration(max).expect("limits parse") {
        return Err(format!("`{}` is longer than the maximum, {max}", value.trim()));
    }
    Ok(parsed)
}

pub(crate) fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(format!("`{other}` is not a boolean (use true or false)")),
    }
}

/// Splits on commas and whitespace, dropping empty items.
pub(crate) fn list(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) fn http_url(value: &str) -> Result<Url, String> {
    let value = value.trim();
    // The URL parser drops tabs, newlines and surrounding control characters without a word,
    // while the value itself is used as written too (the issuer is compared byte for byte).
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "`{}` contains spaces or control characters",
            value.escape_debug()
        ));
    }
    let url = Url::parse(value).map_err(|e| format!("`{value}` is not a URL ({e})"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        _ => Err(format!("`{value}` must be an http:// or https:// URL")),
    }
}

/// An origin such as `https://app.example.com` (scheme, host and port; nothing else).
pub(crate) fn origin(value: &str) -> Result<url::Origin, String> {
    let url = http_url(value)?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "`{value}` must be an origin only, like https://app.example.com"
        ));
    }
    Ok(url.origin())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_plain_seconds() {
        assert_eq!(duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(duration("8h").unwrap(), Duration::from_secs(28_800));
        assert_eq!(duration("7d").unwrap(), Duration::from_secs(604_800));
        assert_eq!(duration("45").unwrap(), Duration::from_secs(45));
    }

    #[test]
    fn durations_reject_garbage_without_panicking() {
        for bad in ["", "h", "10x", "-5s", "1.5h", "99999999999999999999d"] {
            assert!(duration(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn urls_with_spaces_or_control_characters_are_refused_not_cleaned() {
        for bad in [
            "http://[::2]\u{1}\u{0}",
            "https://id.example.com/re\nalms",
            "https://id.example.com/a b",
        ] {
            assert!(http_url(bad).is_err(), "{bad:?}");
        }
        assert!(
            http_url(" https://id.example.com/realms ").is_ok(),
            "surrounding spaces are trimmed"
        );
    }

    #[test]
    fn a_duration_above_its_maximum_is_refused_and_the_maximum_itself_accepted() {
        assert_eq!(duration_at_most("5m", "5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration_at_most("300", "5m"), Ok(Duration::from_secs(300)));
        let err = duration_at_most("301", "5m").unwrap_err();
        assert!(err.contains("longer than the maximum, 5m"), "{err}");
        assert!(duration_at_most("1000000000d", "365d").is_err());
    }

    #[test]
    fn origins_must_not_carry_a_path() {
        assert!(origin("https://app.example.com").is_ok());
        assert!(origin("https://app.example.com/x").is_err());
        assert!(origin("javascript:alert(1)").is_err());
    }
}

//! Configuration: raw `OIDC_*` strings (read with envy) turned into typed [`Settings`].
//! Every problem is collected and reported at once, each naming its variable.

mod client_assertion;
mod client_auth;
mod env;
mod identity;
mod otel;
pub(crate) mod parse;
mod raw;
mod redis;
mod sections;
mod settings;
#[cfg(test)]
mod tests;
pub mod vars;

use std::fmt;

pub use otel::{OtlpProtocol, TraceSampler, TracingSettings, OTEL_VARS};
pub use settings::*;

/// One configuration problem, tied to the variable that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub var: &'static str,
    pub message: String,
}

/// Everything wrong with the configuration, reported together.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({} problem(s)):", self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  {}: {}", p.var, p.message)?;
        }
        Ok(())
    }
}

pub use crate::domain::Secret;

/// Collects problems while fields are parsed, so all of them can be reported together.
#[derive(Default)]
pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    pub(crate) fn push(&mut self, var: &'static str, message: impl Into<String>) {
        self.0.push(Problem {
            var,
            message: message.into(),
        });
    }

    /// Parses an optional value; a parse failure is recorded and yields `None`.
    pub(crate) fn optional<T>(
        &mut self,
        var: &'static str,
        raw: Option<&str>,
        example: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
        match parse(raw) {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(var, format!("{e}; for example {var}={example}"));
                None
            }
        }
    }

    /// Like [`Problems::optional`], but a missing value is a problem too.
    pub(crate) fn required<T>(
        &mut self,
        var: &'static str,
        raw: Option<&str>,
        example: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        if raw.map(str::trim).is_none_or(str::is_empty) {
            self.push(var, format!("is required; for example {var}={example}"));
            return None;
        }
        self.optional(var, raw, example, parse)
    }

    /// Like [`Problems::optional`] with a default for an unset variable.
    pub(crate) fn or_default<T>(
        &mut self,
        var: &'static str,
        raw: Option<&str>,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            Some(v) => self.optional(var, Some(v), default, parse),
            None => Some(parse(default).expect("defaults parse")),
        }
    }

    pub(crate) fn into_result(self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems: self.0 })
        }
    }
}

/// Names of `OIDC_*` variables that the service does not know: probably typos.
pub fn unknown_vars<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    names
        .into_iter()
        .filter(|n| n.starts_with("OIDC_") && !vars::KNOWN_VARS.contains(n))
        .map(str::to_owned)
        .collect()
}

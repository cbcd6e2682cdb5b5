//! How long a verified logout token stays acceptable, and so how long its `jti` must be
//! remembered for a replay to be refused (§2.6 step 10). Every value comes from the token,
//! so the arithmetic saturates and the window is capped.

use std::time::Duration;

use super::LogoutClaims;

/// How long a token without `exp` stays acceptable after its `iat` (older providers omit `exp`).
pub(crate) const NO_EXP_WINDOW: u64 = 300;

/// The longest a token stays acceptable after its `iat`, whatever its `exp` says: a token
/// valid "forever" (`exp: 1e300`) would otherwise have to be remembered forever.
pub(crate) const MAX_TOKEN_AGE: u64 = 86_400;

/// The shortest time a `jti` is remembered, so that a retry within moments is a replay.
const MIN_REMEMBERED: u64 = 60;

impl LogoutClaims {
    /// The last second (Unix time, clock skew aside) at which this token is acceptable.
    pub(crate) fn acceptable_until(&self) -> u64 {
        let own = self.exp.unwrap_or(self.iat.saturating_add(NO_EXP_WINDOW));
        own.min(self.iat.saturating_add(MAX_TOKEN_AGE))
    }

    /// How long to remember the `jti` so that every replay is refused while the token is
    /// acceptable; `None` when it is no longer acceptable at `now`.
    pub(crate) fn replay_window(&self, now: u64, skew: Duration) -> Option<Duration> {
        let end = self.acceptable_until().saturating_add(skew.as_secs());
        if end < now {
            return None;
        }
        Some(Duration::from_secs((end - now).max(MIN_REMEMBERED)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const SKEW: Duration = Duration::from_secs(60);

    fn claims(iat: u64, exp: Option<u64>) -> LogoutClaims {
        LogoutClaims {
            iss: "https://op.example.com".into(),
            sub: Some("user".into()),
            sid: None,
            jti: "jti".into(),
            iat,
            exp,
        }
    }

    #[test]
    fn a_jti_is_remembered_until_exp_plus_the_clock_skew() {
        let window = claims(NOW, Some(NOW + 120)).replay_window(NOW, SKEW);
        assert_eq!(window, Some(Duration::from_secs(180)));
    }

    #[test]
    fn a_huge_exp_saturates_and_is_capped_at_a_day_after_iat() {
        for exp in [u64::MAX, u64::MAX - 1, NOW + 10 * MAX_TOKEN_AGE] {
            let token = claims(NOW, Some(exp));
            assert_eq!(token.acceptable_until(), NOW + MAX_TOKEN_AGE);
            let window = token.replay_window(NOW, SKEW);
            assert_eq!(window, Some(Duration::from_secs(MAX_TOKEN_AGE + 60)), "exp {exp}");
            // Remembered for as long as it is acceptable, and refused once it no longer is.
            let last = NOW + MAX_TOKEN_AGE + 60;
            assert!(token.replay_window(last, SKEW).is_some());
            assert_eq!(token.replay_window(last + 1, SKEW), None);
        }
    }

    #[test]
    fn a_huge_iat_does_not_wrap() {
        let token = claims(u64::MAX, None);
        assert_eq!(token.acceptable_until(), u64::MAX);
        assert!(token.replay_window(NOW, SKEW).is_some_and(|w| w.as_secs() > 0));
    }

    #[test]
    fn a_token_without_exp_is_acceptable_for_a_few_minutes_after_iat() {
        let token = claims(NOW, None);
        assert_eq!(
            token.replay_window(NOW, SKEW),
            Some(Duration::from_secs(NO_EXP_WINDOW + 60))
        );
        assert_eq!(token.replay_window(NOW + NO_EXP_WINDOW + 61, SKEW), None);
    }

    #[test]
    fn a_jti_is_remembered_for_at_least_a_minute() {
        let token = claims(NOW - 100, Some(NOW));
        assert_eq!(token.replay_window(NOW + 59, SKEW), Some(Duration::from_secs(60)));
    }
}

//! Rate-limited log lines: an outage that fails every request, or a misconfigured proxy
//! that sends the same request all day, writes one line per interval and key, and that
//! line says how many like it were held back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys remembered at most; past that, stale ones are forgotten, and when none is stale a
/// new key is let through unthrottled (the keys are few: error texts, fixed names).
const MAX_KEYS: usize = 256;

pub struct Throttle {
    every: Duration,
    seen: Mutex<HashMap<String, Seen>>,
}

struct Seen {
    /// When a line for this key was last let through.
    at: Instant,
    /// Lines held back since then.
    suppressed: u64,
}

impl Throttle {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(n)` when a line for `key` may be written now, `n` being how many were held
    /// back since the last one; `None` when this one is to be held back (and counted).
    pub fn allow(&self, key: &str) -> Option<u64> {
        self.allow_at(key, Instant::now())
    }

    pub(crate) fn allow_at(&self, key: &str, now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock().expect("not poisoned");
        if let Some(entry) = seen.get_mut(key) {
            if now.duration_since(entry.at) < self.every {
                entry.suppressed += 1;
                return None;
            }
            let suppressed = std::mem::take(&mut entry.suppressed);
            entry.at = now;
            return Some(suppressed);
        }
        if seen.len() >= MAX_KEYS {
            let every = self.every;
            seen.retain(|_, e| now.duration_since(e.at) < every);
            if seen.len() >= MAX_KEYS {
                return Some(0);
            }
        }
        seen.insert(key.to_owned(), Seen { at: now, suppressed: 0 });
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_key_passes_and_the_next_one_counts_those_held_back() {
        let throttle = Throttle::new(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(throttle.allow_at("store down", start), Some(0));
        for s in 1..=5 {
            assert_eq!(throttle.allow_at("store down", start + Duration::from_secs(s)), None);
        }
        assert_eq!(throttle.allow_at("another error", start), Some(0), "keys are separate");
        assert_eq!(
            throttle.allow_at("store down", start + Duration::from_secs(61)),
            Some(5)
        );
        assert_eq!(throttle.allow_at("store down", start + Duration::from_secs(62)), None);
    }

    #[test]
    fn past_the_key_limit_stale_keys_are_forgotten_and_new_ones_still_pass() {
        let throttle = Throttle::new(Duration::from_secs(60));
        let start = Instant::now();
        for i in 0..MAX_KEYS {
            assert_eq!(throttle.allow_at(&format!("e{i}"), start), Some(0));
        }
        assert_eq!(throttle.allow_at("one more", start), Some(0));
        let later = start + Duration::from_secs(61);
        assert_eq!(throttle.allow_at("after", later), Some(0));
        assert_eq!(
            throttle.allow_at("after", later),
            None,
            "remembered once stale keys went"
        );
    }
}

//! The provider's signing keys, and their re-fetch when a token names a key we do not know
//! (key rotation). Re-fetches are rate-limited per kind of requester, so forged `kid`s
//! cannot make us hammer the provider, nor use up the budget that sign-ins depend on.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use tokio::sync::Mutex;

/// Minimum time between two key re-fetches of one requester kind.
const REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// Who triggers a key re-fetch. Anyone can post a logout token with a made-up `kid`, so
/// such requests get a re-fetch budget of their own and cannot use up the one that logins
/// and refreshes (tokens straight from the token endpoint) depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyRequester {
    TokenEndpoint,
    Anonymous,
}

impl KeyRequester {
    fn budget(self) -> usize {
        match self {
            Self::TokenEndpoint => 0,
            Self::Anonymous => 1,
        }
    }
}

/// An error from checking a signature against the provider's keys.
pub(crate) trait KeyError {
    /// The token names a key the current set lacks (perhaps rotated in since we fetched).
    fn is_unknown_key(&self) -> bool;
}

struct Loaded {
    set: Arc<CoreJsonWebKeySet>,
    /// When each kind of requester last re-fetched: one budget each.
    refetched_at: [Option<Instant>; 2],
}

/// The current key set and the re-fetch budgets, shared by every verification.
#[derive(Default)]
pub(crate) struct ProviderKeys {
    loaded: RwLock<Option<Loaded>>,
    refetch: Mutex<()>,
}

impl ProviderKeys {
    /// Replaces the key set (discovery), resetting the budgets.
    pub(crate) fn replace(&self, set: CoreJsonWebKeySet) {
        *self.loaded.write().expect("not poisoned") = Some(Loaded {
            set: Arc::new(set),
            refetched_at: [None; 2],
        });
    }

    /// The current key set; `None` until discovery has loaded one.
    pub(crate) fn current(&self) -> Option<Arc<CoreJsonWebKeySet>> {
        self.loaded
            .read()
            .expect("not poisoned")
            .as_ref()
            .map(|k| k.set.clone())
    }

    /// Runs `verify` against the current keys and, when it names an unknown key, once more
    /// against a set re-fetched with `fetch` (if `requester`'s budget allows). `missing` is
    /// the error while no keys are loaded.
    pub(crate) async fn verify<T, E: KeyError>(
        &self,
        requester: KeyRequester,
        fetch: impl AsyncFnOnce() -> Option<CoreJsonWebKeySet>,
        missing: impl FnOnce() -> E,
        verify: impl Fn(&CoreJsonWebKeySet) -> Result<T, E>,
    ) -> Result<T, E> {
        let keys = self.current().ok_or_else(missing)?;
        match verify(&keys) {
            Err(e) if e.is_unknown_key() => match self.refetch(&keys, requester, fetch).await {
                Some(fresh) => verify(&fresh),
                None => Err(e),
            },
            other => other,
        }
    }

    /// The set after a re-fetch; `None` when the budget is used up or the fetch failed.
    async fn refetch(
        &self,
        seen: &Arc<CoreJsonWebKeySet>,
        requester: KeyRequester,
        fetch: impl AsyncFnOnce() -> Option<CoreJsonWebKeySet>,
    ) -> Option<Arc<CoreJsonWebKeySet>> {
        let _one_at_a_time = self.refetch.lock().await;
        {
            let loaded = self.loaded.read().expect("not poisoned");
            let loaded = loaded.as_ref()?;
            // Another request re-fetched while we waited: use its result.
            if !Arc::ptr_eq(&loaded.set, seen) {
                return Some(loaded.set.clone());
            }
            if loaded.refetched_at[requester.budget()].is_some_and(|t| t.elapsed() < REFETCH_INTERVAL) {
                return None;
            }
        }
        let fetched = fetch().await;
        let mut loaded = self.loaded.write().expect("not poisoned");
        let loaded = loaded.as_mut()?;
        loaded.refetched_at[requester.budget()] = Some(Instant::now());
        let set = Arc::new(fetched?);
        loaded.set = set.clone();
        Some(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, PartialEq)]
    struct Unknown;
    impl KeyError for Unknown {
        fn is_unknown_key(&self) -> bool {
            true
        }
    }

    fn empty() -> CoreJsonWebKeySet {
        CoreJsonWebKeySet::new(Vec::new())
    }

    #[tokio::test]
    async fn each_requester_kind_has_its_own_re_fetch_budget() {
        let keys = ProviderKeys::default();
        keys.replace(empty());
        let fetches = AtomicUsize::new(0);
        let attempt = async |requester| {
            let fetch = async || {
                fetches.fetch_add(1, Ordering::SeqCst);
                Some(empty())
            };
            let never = |_: &CoreJsonWebKeySet| Err::<(), _>(Unknown);
            let _ = keys.verify(requester, fetch, || Unknown, never).await;
        };
        for _ in 0..3 {
            attempt(KeyRequester::Anonymous).await;
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "anonymous callers re-fetch once per interval"
        );
        attempt(KeyRequester::TokenEndpoint).await;
        assert_eq!(fetches.load(Ordering::SeqCst), 2, "sign-ins keep a budget of their own");
    }

    #[tokio::test]
    async fn without_loaded_keys_the_missing_error_is_returned_and_nothing_is_fetched() {
        let keys = ProviderKeys::default();
        let fetched = AtomicUsize::new(0);
        let result = keys
            .verify(
                KeyRequester::TokenEndpoint,
                async || {
                    fetched.fetch_add(1, Ordering::SeqCst);
                    None
                },
                || Unknown,
                |_| Ok(()),
            )
            .await;
        assert_eq!(result, Err(Unknown));
        assert_eq!(fetched.load(Ordering::SeqCst), 0);
    }
}

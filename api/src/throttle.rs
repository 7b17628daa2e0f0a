//! Brute-force throttling: failures are counted per key (an account, a client IP, a client
//! id) by a GCRA rate limiter (`governor`): a burst of `max_failures`, then one more per
//! `window / max_failures`. When a key runs out, it is blocked until the limiter would let it
//! fail again; while blocked, attempts are refused before any password or secret is checked,
//! so even the right one gets no answer but "wait".
//!
//! The state is per process: with several nodes an attacker gets at most one quota per node.
//! A shared limiter would need a database round trip on every attempt; the quotas are small.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct Throttle {
    failures: DefaultKeyedRateLimiter<String>,
    blocked: Mutex<HashMap<String, Instant>>,
    clock: DefaultClock,
}

impl Throttle {
    pub fn new(max_failures: u32, window: Duration) -> Throttle {
        let burst = NonZeroU32::new(max_failures.max(1)).expect("at least one");
        let period = (window / burst.get()).max(Duration::from_millis(1));
        let quota = Quota::with_period(period)
            .expect("non-zero period")
            .allow_burst(burst);
        Throttle {
            failures: RateLimiter::keyed(quota),
            blocked: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }

    /// How long the longest block among `keys` still lasts, if any key is blocked.
    pub fn blocked(&self, keys: &[String]) -> Option<Duration> {
        let now = Instant::now();
        let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| blocked.get(k))
            .filter(|until| **until > now)
            .map(|until| *until - now)
            .max()
    }

    /// Counts a failure against each key; returns the keys this failure blocked, and for how
    /// long.
    pub fn failed(&self, keys: &[String]) -> Vec<(String, Duration)> {
        let now = Instant::now();
        let mut newly = Vec::new();
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        blocked.retain(|_, until| *until > now);
        for key in keys {
            if let Err(not_until) = self.failures.check_key(key) {
                let wait = not_until.wait_time_from(self.clock.now());
                blocked.insert(key.clone(), now + wait);
                newly.push((key.clone(), wait));
            }
        }
        // Forget keys whose quota has refilled, so memory follows the attack, not history.
        if self.failures.len() > 10_000 {
            self.failures.retain_recent();
        }
        newly
    }
}

/// Rounds a wait up to whole seconds for people and `Retry-After`.
pub fn seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// Records each newly blocked key as an event (`SignInThrottled` or
/// `ClientAuthenticationThrottled`).
pub async fn record(
    state: &crate::state::AppState,
    action: sigil_domain::throttle::ThrottledAction,
    newly: &[(String, Duration)],
    context: &crate::commands::CommandContext,
) -> Result<(), crate::commands::CommandError<sigil_domain::throttle::AlreadyRecorded>> {
    use sigil_domain::throttle::{EngageThrottle, Throttle as ThrottleStream};
    for (key, wait) in newly {
        let engage = EngageThrottle {
            action: action.clone(),
            key: key.clone(),
            until: context.now.timestamp() + seconds(*wait) as i64,
        };
        let id = uuid::Uuid::new_v4().to_string();
        state
            .commands
            .execute::<ThrottleStream>(&id, engage, context)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_blocked_after_its_burst_of_failures_and_others_are_not() {
        let throttle = Throttle::new(3, Duration::from_secs(300));
        let alice = vec!["account:alice".to_string()];
        for _ in 0..3 {
            assert!(throttle.blocked(&alice).is_none());
            assert!(throttle.failed(&alice).is_empty());
        }
        let newly = throttle.failed(&alice);
        assert_eq!(newly.len(), 1);
        let wait = throttle.blocked(&alice).expect("blocked");
        assert!(
            wait > Duration::from_secs(90) && wait <= Duration::from_secs(100),
            "{wait:?}"
        );
        assert!(throttle.blocked(&["account:bob".to_string()]).is_none());
    }

    #[test]
    fn any_blocked_key_blocks_the_attempt() {
        let throttle = Throttle::new(1, Duration::from_secs(60));
        throttle.failed(&["ip:10.0.0.1".to_string()]);
        throttle.failed(&["ip:10.0.0.1".to_string()]);
        let keys = vec!["account:carol".to_string(), "ip:10.0.0.1".to_string()];
        assert!(throttle.blocked(&keys).is_some());
        assert_eq!(seconds(Duration::from_millis(1500)), 2);
    }
}

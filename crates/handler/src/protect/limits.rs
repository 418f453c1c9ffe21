//! Rate limits with `governor` (GCRA, the token bucket's exact equivalent): one bucket per client
//! and one for the whole instance.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::client::ClientKey;
use super::settings::ProtectionSettings;

/// Which limit a request went over, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// The client's own bucket is empty.
    Client {
        /// Until the bucket holds a token again.
        retry_after: Duration,
    },
    /// The instance's global limit is reached.
    Global {
        /// Until the global limit admits a request again.
        retry_after: Duration,
    },
}

impl Limited {
    /// Whole seconds for `Retry-After`, rounded up, at least 1.
    pub fn retry_after_secs(self) -> u64 {
        let (Self::Client { retry_after } | Self::Global { retry_after }) = self;
        secs_ceil(retry_after)
    }
}

/// Whole seconds, rounded up, at least 1.
pub fn secs_ceil(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

/// The per-client and global limiters.
#[derive(Debug)]
pub struct RateLimits {
    clients: DefaultKeyedRateLimiter<ClientKey>,
    global: DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl RateLimits {
    /// Limiters for the settings.
    pub fn new(settings: &ProtectionSettings) -> Self {
        let refill = Duration::from_secs_f64(1.0 / settings.client_refill_per_second);
        let client_quota = Quota::with_period(refill)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(settings.client_burst);
        let global_quota =
            Quota::per_minute(settings.global_per_minute).allow_burst(settings.global_burst);
        Self {
            clients: RateLimiter::keyed(client_quota),
            global: RateLimiter::direct(global_quota),
            clock: DefaultClock::default(),
        }
    }

    /// Admit one request of `client`, taking a token from its bucket and then one from the global
    /// limit; `Err` names the limit that refused it. A refused request takes no token from the
    /// client's bucket; one refused by the global limit has already spent its client token.
    pub fn check(&self, client: &ClientKey) -> Result<(), Limited> {
        self.clients
            .check_key(client)
            .map_err(|not_until| Limited::Client {
                retry_after: not_until.wait_time_from(self.clock.now()),
            })?;
        self.global.check().map_err(|not_until| Limited::Global {
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// Forget clients whose buckets are full again (bounded memory); run periodically.
    pub fn forget_idle(&self) {
        self.clients.retain_recent();
        self.clients.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(burst: u32, global: u32) -> ProtectionSettings {
        ProtectionSettings {
            client_burst: NonZeroU32::new(burst).unwrap(),
            client_refill_per_second: 0.001,
            global_per_minute: NonZeroU32::MIN,
            global_burst: NonZeroU32::new(global).unwrap(),
            ..ProtectionSettings::default()
        }
    }

    #[test]
    fn a_client_gets_its_burst_then_is_refused() {
        let limits = RateLimits::new(&settings(3, 100));
        let a = ClientKey::Tenant("a".into());
        for _ in 0..3 {
            assert_eq!(limits.check(&a), Ok(()));
        }
        let refused = limits.check(&a).unwrap_err();
        assert!(matches!(refused, Limited::Client { .. }));
        // One token per 1000 s: the wait is most of that.
        assert!(refused.retry_after_secs() > 900, "{refused:?}");
        assert_eq!(limits.check(&ClientKey::Tenant("b".into())), Ok(()));
    }

    #[test]
    fn the_global_limit_spans_clients() {
        let limits = RateLimits::new(&settings(100, 2));
        assert_eq!(limits.check(&ClientKey::Anonymous), Ok(()));
        assert_eq!(limits.check(&ClientKey::Tenant("x".into())), Ok(()));
        let refused = limits.check(&ClientKey::Tenant("y".into())).unwrap_err();
        assert!(matches!(refused, Limited::Global { .. }));
        assert!(refused.retry_after_secs() >= 1);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(secs_ceil(Duration::ZERO), 1);
        assert_eq!(secs_ceil(Duration::from_millis(1001)), 2);
        assert_eq!(secs_ceil(Duration::from_secs(3)), 3);
    }
}

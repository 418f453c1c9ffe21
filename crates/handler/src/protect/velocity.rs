//! Velocity flags: a client sending more than N requests a minute has its jobs marked suspicious.
//!
//! A `governor` limiter of N per minute per client, used as a detector rather than a gate: a
//! request it would refuse is flagged (and still accepted). It admits a burst of N and then one
//! request every 60/N seconds, so a client is flagged once it exceeds N in any minute-long stretch.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::client::ClientKey;
use super::settings::ProtectionSettings;

/// The velocity detector.
#[derive(Debug)]
pub struct Velocity {
    per_minute: u32,
    seen: DefaultKeyedRateLimiter<ClientKey>,
}

impl Velocity {
    /// A detector for the settings.
    pub fn new(settings: &ProtectionSettings) -> Self {
        Self {
            per_minute: settings.velocity_per_minute.get(),
            seen: RateLimiter::keyed(Quota::per_minute(settings.velocity_per_minute)),
        }
    }

    /// Record one request of `client`: the reason to flag it, if it is over the velocity.
    pub fn observe(&self, client: &ClientKey) -> Option<String> {
        self.seen.check_key(client).err().map(|_| {
            format!(
                "velocity: more than {} requests per minute from {client}",
                self.per_minute
            )
        })
    }

    /// Forget clients seen long enough ago; run periodically.
    pub fn forget_idle(&self) {
        self.seen.retain_recent();
        self.seen.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    #[test]
    fn flags_requests_beyond_n_per_minute_per_client() {
        let v = Velocity::new(&ProtectionSettings {
            velocity_per_minute: NonZeroU32::new(2).unwrap(),
            ..ProtectionSettings::default()
        });
        let a = ClientKey::Tenant("a".into());
        assert_eq!(v.observe(&a), None);
        assert_eq!(v.observe(&a), None);
        let reason = v.observe(&a).unwrap();
        assert_eq!(
            reason,
            "velocity: more than 2 requests per minute from tenant:a"
        );
        assert_eq!(v.observe(&ClientKey::Tenant("b".into())), None);
    }
}

//! Ingest protection: per-client and global rate limits, velocity flags (and, with a queue depth
//! source, backpressure). Everything here is per handler instance: see the README's "Ingest
//! protection" section for what that means when Functions scales out.

pub mod backpressure;
pub mod client;
pub mod depth;
pub mod limits;
pub mod settings;
pub mod velocity;

pub use backpressure::{Backpressure, BackpressureSettings, Priority, Shed};
pub use client::{ClientKey, client_key};
pub use limits::{Limited, RateLimits};
pub use settings::ProtectionSettings;
pub use velocity::Velocity;

/// The protection state `IngestJob` consults on every request.
#[derive(Debug)]
pub struct Protection {
    client_ip_hops: usize,
    limits: RateLimits,
    velocity: Velocity,
    backpressure: Backpressure,
}

impl Protection {
    /// Protection for the settings.
    pub fn new(settings: &ProtectionSettings) -> Self {
        Self {
            client_ip_hops: settings.client_ip_hops,
            limits: RateLimits::new(settings),
            velocity: Velocity::new(settings),
            backpressure: Backpressure::new(settings.backpressure.clone()),
        }
    }

    /// Which `X-Forwarded-For` entry (from the right) is trusted.
    pub fn client_ip_hops(&self) -> usize {
        self.client_ip_hops
    }

    /// The rate limiters.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// The velocity detector.
    pub fn velocity(&self) -> &Velocity {
        &self.velocity
    }

    /// Backpressure by queue depth.
    pub fn backpressure(&self) -> &Backpressure {
        &self.backpressure
    }

    /// Drop idle per-client state; call every minute or so.
    pub fn forget_idle(&self) {
        self.limits.forget_idle();
        self.velocity.forget_idle();
    }
}

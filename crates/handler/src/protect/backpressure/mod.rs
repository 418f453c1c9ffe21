//! Backpressure: when the queue's active message count is over a threshold, `IngestJob` sheds
//! load with `503` + `Retry-After`, low-priority job types first.
//!
//! The depth is read off the request path (see [`super::depth`]) into a [`DepthGauge`]; a request
//! only reads the gauge. With no recent reading (no source configured, or reads failing) nothing is
//! shed: backpressure fails open.

mod settings;

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub use settings::BackpressureSettings;

/// How important a job type is when the queue is deep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Shed first, above the low threshold.
    Low,
    /// Shed above the normal threshold (the default).
    Normal,
    /// Never shed.
    High,
}

impl Priority {
    /// `low`, `normal`, `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
}

/// The latest queue depth, as the poller last read it.
#[derive(Debug)]
pub struct DepthGauge {
    reading: RwLock<Option<(u64, Instant)>>,
    max_age: Duration,
}

impl DepthGauge {
    /// A gauge whose readings count for `max_age`.
    pub fn new(max_age: Duration) -> Self {
        Self {
            reading: RwLock::new(None),
            max_age,
        }
    }

    /// Record a fresh reading.
    pub fn set(&self, active: u64) {
        *self
            .reading
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((active, Instant::now()));
    }

    /// Forget the reading (the depth cannot be read).
    pub fn clear(&self) {
        *self
            .reading
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The depth, if a reading is recent enough.
    pub fn current(&self) -> Option<u64> {
        self.reading
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .filter(|(_, at)| at.elapsed() <= self.max_age)
            .map(|(active, _)| active)
    }
}

/// A request shed by backpressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shed {
    /// The depth read.
    pub depth: u64,
    /// The threshold it is over.
    pub threshold: u64,
    /// The job type's priority.
    pub priority: Priority,
    /// `Retry-After` seconds.
    pub retry_after_secs: u64,
}

/// The backpressure decision.
#[derive(Debug)]
pub struct Backpressure {
    settings: BackpressureSettings,
    gauge: Arc<DepthGauge>,
}

impl Backpressure {
    /// Backpressure for the settings; readings count for three refresh intervals.
    pub fn new(settings: BackpressureSettings) -> Self {
        let gauge = Arc::new(DepthGauge::new(settings.refresh * 3));
        Self { settings, gauge }
    }

    /// The settings.
    pub fn settings(&self) -> &BackpressureSettings {
        &self.settings
    }

    /// The depth gauge the poller writes (shared with it).
    pub fn gauge(&self) -> &Arc<DepthGauge> {
        &self.gauge
    }

    /// The priority of a job type.
    pub fn priority(&self, job_type: &str) -> Priority {
        self.settings
            .priorities
            .get(job_type)
            .copied()
            .unwrap_or(Priority::Normal)
    }

    /// `Err` when a job of `job_type` is to be shed now.
    pub fn check(&self, job_type: &str) -> Result<(), Shed> {
        let Some(depth) = self.gauge.current() else {
            return Ok(()); // fail open
        };
        let priority = self.priority(job_type);
        let threshold = match priority {
            Priority::Low => self.settings.low_threshold,
            Priority::Normal => self.settings.normal_threshold,
            Priority::High => return Ok(()),
        };
        if depth > threshold {
            return Err(Shed {
                depth,
                threshold,
                priority,
                retry_after_secs: self.settings.retry_after_secs,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_priority_is_shed_first_and_high_never() {
        let s = BackpressureSettings {
            low_threshold: 10,
            normal_threshold: 20,
            priorities: [("thumbnail", Priority::Low), ("audit", Priority::High)]
                .map(|(t, p)| (t.to_owned(), p))
                .into(),
            ..BackpressureSettings::default()
        };
        let b = Backpressure::new(s);
        // No reading: fail open.
        assert_eq!(b.check("thumbnail"), Ok(()));
        b.gauge().set(10);
        assert_eq!(b.check("thumbnail"), Ok(()));
        b.gauge().set(11);
        let shed = b.check("thumbnail").unwrap_err();
        assert_eq!(
            (shed.depth, shed.threshold, shed.priority),
            (11, 10, Priority::Low)
        );
        assert_eq!(b.check("report"), Ok(()));
        b.gauge().set(21);
        assert_eq!(b.check("report").unwrap_err().threshold, 20);
        assert_eq!(b.check("audit"), Ok(()));
        b.gauge().clear();
        assert_eq!(b.check("thumbnail"), Ok(()));
    }
}

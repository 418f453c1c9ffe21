use rand::RngExt as _;
use thiserror::Error;

/// Deliberate, transient processing failures ("chaos"), at a configured rate.
///
/// Without a seed every attempt draws from the thread RNG. With a seed, the outcome of an attempt
/// is a pure function of `(seed, job id, delivery count)`: the same job fails on the same
/// deliveries in every run and under any concurrency, so a run can be replayed exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chaos {
    rate: f64,
    seed: Option<u64>,
}

/// A chaos rate outside `0.0..=1.0`.
#[derive(Debug, Error, PartialEq)]
#[error("chaos failure rate must be a number between 0 and 1, got {0}")]
pub struct ChaosError(pub f64);

impl Chaos {
    /// Chaos failing a `rate` fraction of attempts (`0.0` disables it).
    pub fn new(rate: f64, seed: Option<u64>) -> Result<Self, ChaosError> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(ChaosError(rate));
        }
        Ok(Self { rate, seed })
    }

    /// The configured failure rate.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Whether the `delivery_count`-th attempt at `job_id` fails on purpose.
    pub fn should_fail(&self, job_id: &str, delivery_count: u32) -> bool {
        if self.rate <= 0.0 {
            return false;
        }
        let draw = match self.seed {
            Some(seed) => unit_interval(mix(seed, job_id, delivery_count)),
            None => rand::rng().random::<f64>(),
        };
        draw < self.rate
    }
}

/// FNV-1a over the job id, folded with the seed and delivery count, finished with SplitMix64.
/// Stable across platforms and releases (unlike `std`'s hasher or a `StdRng` stream).
fn mix(seed: u64, job_id: &str, delivery_count: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in job_id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix64(splitmix64(h ^ seed) ^ u64::from(delivery_count))
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The top 53 bits as a float in `[0, 1)`.
fn unit_interval(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_rates_outside_unit_interval() {
        assert!(Chaos::new(-0.1, None).is_err());
        assert!(Chaos::new(1.5, None).is_err());
        assert!(Chaos::new(f64::NAN, None).is_err());
        assert!(Chaos::new(0.0, None).is_ok() && Chaos::new(1.0, None).is_ok());
    }

    #[test]
    fn zero_never_fails_and_one_always_fails() {
        let (never, always) = (
            Chaos::new(0.0, Some(1)).unwrap(),
            Chaos::new(1.0, None).unwrap(),
        );
        for i in 0..1000 {
            assert!(!never.should_fail(&i.to_string(), 1));
            assert!(always.should_fail(&i.to_string(), 1));
        }
    }

    #[test]
    fn seeded_outcomes_are_reproducible_and_seed_dependent() {
        let a = Chaos::new(0.5, Some(42)).unwrap();
        let b = Chaos::new(0.5, Some(43)).unwrap();
        let run = |c: &Chaos| {
            (0..200)
                .map(|i| c.should_fail(&format!("job-{i}"), 1))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(&a), run(&a));
        assert_ne!(run(&a), run(&b));
    }

    #[test]
    fn observed_rate_over_10000_jobs_is_within_bounds() {
        // Binomial(n=10,000, p): five standard deviations either side. With a fixed seed the count
        // is deterministic, so this cannot flake; it fails if the draw is biased.
        for (rate, seed) in [(0.2, 7u64), (0.05, 11), (0.5, 13)] {
            let chaos = Chaos::new(rate, Some(seed)).unwrap();
            let n = 10_000u32;
            let failures = (0..n)
                .filter(|i| chaos.should_fail(&format!("{i:08x}-job"), 1))
                .count() as f64;
            let (mean, sd) = (
                f64::from(n) * rate,
                (f64::from(n) * rate * (1.0 - rate)).sqrt(),
            );
            assert!(
                (failures - mean).abs() < 5.0 * sd,
                "rate {rate}: {failures} failures, expected {mean}±{}",
                5.0 * sd
            );
        }
    }

    #[test]
    fn redeliveries_draw_independently() {
        // The same job must not fail on every delivery just because it failed once.
        let chaos = Chaos::new(0.2, Some(99)).unwrap();
        let always_failing = (0..2_000)
            .filter(|i| (1..=5).all(|d| chaos.should_fail(&format!("job-{i}"), d)))
            .count();
        // P(5 in a row) = 0.2^5 = 0.00032 -> ~0.6 expected out of 2,000.
        assert!(
            always_failing <= 5,
            "{always_failing} jobs failed on all five deliveries"
        );
    }
}

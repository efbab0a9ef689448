//! Token buckets keyed by client address or principal. The limiter fails
//! closed: when it cannot track a new key (its table is full of live
//! buckets) or its lock is poisoned, the request is refused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::error::ApiError;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
    capacity: usize,
}

impl RateLimiter {
    pub fn new(capacity: usize) -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Take one token from `key`'s bucket, which refills at `per_minute`
    /// tokens a minute and holds at most that many.
    pub fn check(&self, key: &str, per_minute: u32) -> Result<(), ApiError> {
        self.check_at(key, per_minute, Instant::now())
    }

    pub fn check_at(&self, key: &str, per_minute: u32, now: Instant) -> Result<(), ApiError> {
        let refused = |why: &str| ApiError::RateLimited(why.to_owned());
        let mut buckets = self
            .buckets
            .lock()
            .map_err(|_| refused("the rate limiter is unavailable"))?;
        let burst = per_minute.max(1) as f64;
        let rate = burst / 60.0;
        if !buckets.contains_key(key) && buckets.len() >= self.capacity {
            // Drop buckets that have refilled completely; they carry no state.
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst
            });
            if buckets.len() >= self.capacity {
                return Err(refused(
                    "too many clients are being tracked; try again shortly",
                ));
            }
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        if bucket.tokens < 1.0 {
            return Err(refused(&format!("at most {per_minute} requests a minute")));
        }
        bucket.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn buckets_refill_and_refuse_beyond_the_rate() {
        let limiter = RateLimiter::new(10);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.check_at("ip:a", 3, t0).unwrap();
        }
        assert!(limiter.check_at("ip:a", 3, t0).is_err());
        limiter.check_at("ip:b", 3, t0).unwrap();
        limiter
            .check_at("ip:a", 3, t0 + Duration::from_secs(20))
            .unwrap();
    }

    #[test]
    fn a_full_table_of_live_buckets_fails_closed() {
        let limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        limiter.check_at("a", 5, t0).unwrap();
        limiter.check_at("b", 5, t0).unwrap();
        let err = limiter.check_at("c", 5, t0).unwrap_err();
        assert_eq!(err.code(), "rate_limited");
        // Once a bucket has refilled it is forgotten, and room is made.
        limiter
            .check_at("c", 5, t0 + Duration::from_secs(120))
            .unwrap();
    }
}

//! Token buckets, one table per limit class: requests per client address,
//! sign-ins per client address, and requests per principal. A flood in one
//! class cannot crowd out another.
//!
//! Client addresses are keyed by the address itself, or for IPv6 by its /64
//! (one host usually holds a whole /64). Address tables are bounded and,
//! when full, forget their least recently used buckets: an attacker with
//! many addresses costs the other addresses nothing but their own history.
//! The principal table holds authenticated callers only and fails closed:
//! when it cannot track a new key, or a lock is poisoned, the request is
//! refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::error::ApiError;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenFull {
    /// Forget the least recently used buckets (client addresses).
    Evict,
    /// Refuse the new key (principals).
    Refuse,
}

struct Table {
    buckets: Mutex<HashMap<String, Bucket>>,
    capacity: usize,
    when_full: WhenFull,
}

impl Table {
    fn new(capacity: usize, when_full: WhenFull) -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            when_full,
        }
    }

    fn check_at(&self, key: &str, per_minute: u32, now: Instant) -> Result<(), ApiError> {
        let burst = per_minute.max(1) as f64;
        let rate = burst / 60.0;
        let refused = |why: &str, after: u32| ApiError::rate_limited(why, after);
        // A poisoned lock: refused (fail closed), as if out of tokens.
        let mut buckets = self.buckets.lock().map_err(|_| {
            refused(
                "the rate limiter is unavailable",
                (1.0 / rate).ceil() as u32,
            )
        })?;
        if !buckets.contains_key(key) && buckets.len() >= self.capacity {
            // Buckets that have refilled completely carry no state.
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < burst
            });
            if buckets.len() >= self.capacity {
                match self.when_full {
                    WhenFull::Refuse => {
                        // Room comes when the first bucket has refilled.
                        let soonest = buckets
                            .values()
                            .map(|b| {
                                let now_tokens = b.tokens
                                    + now.saturating_duration_since(b.updated).as_secs_f64() * rate;
                                (burst - now_tokens) / rate
                            })
                            .fold(60.0_f64, f64::min);
                        return Err(refused(
                            "too many clients are being tracked; try again shortly",
                            (soonest - 1e-9).ceil().max(1.0) as u32,
                        ));
                    }
                    WhenFull::Evict => evict_oldest(&mut buckets, self.capacity),
                }
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
            // Less a nanosecond, so that float error never adds a second.
            let wait = ((1.0 - bucket.tokens) / rate - 1e-9).ceil() as u32;
            return Err(refused(
                &format!("at most {per_minute} requests a minute"),
                wait,
            ));
        }
        bucket.tokens -= 1.0;
        Ok(())
    }
}

/// Forget the least recently used eighth of a full table at once, so that a
/// stream of new keys pays for one pass per many insertions, not one each.
fn evict_oldest(buckets: &mut HashMap<String, Bucket>, capacity: usize) {
    let mut ages: Vec<(Instant, String)> = buckets
        .iter()
        .map(|(k, b)| (b.updated, k.clone()))
        .collect();
    let drop = (capacity / 8).max(1).min(ages.len());
    ages.select_nth_unstable_by_key(drop - 1, |(at, _)| *at);
    for (_, key) in ages.into_iter().take(drop) {
        buckets.remove(&key);
    }
}

/// The key of a client address: an IPv4 address (also when mapped into
/// IPv6) as it is, an IPv6 address by its /64.
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

pub struct RateLimiter {
    per_ip: Table,
    logins: Table,
    principals: Table,
    asks: Table,
}

impl RateLimiter {
    /// Tables of at most `capacity` keys each.
    pub fn new(capacity: usize) -> Self {
        Self {
            per_ip: Table::new(capacity, WhenFull::Evict),
            logins: Table::new(capacity, WhenFull::Evict),
            principals: Table::new(capacity, WhenFull::Refuse),
            asks: Table::new(capacity, WhenFull::Refuse),
        }
    }

    /// Take one token from the client address's bucket, which refills at
    /// `per_minute` tokens a minute and holds at most that many.
    pub fn check_ip(&self, ip: IpAddr, per_minute: u32) -> Result<(), ApiError> {
        self.check_ip_at(ip, per_minute, Instant::now())
    }

    pub fn check_ip_at(&self, ip: IpAddr, per_minute: u32, now: Instant) -> Result<(), ApiError> {
        self.per_ip.check_at(&address_key(ip), per_minute, now)
    }

    /// One sign-in attempt from the client address.
    pub fn check_login(&self, ip: IpAddr, per_minute: u32) -> Result<(), ApiError> {
        self.logins
            .check_at(&address_key(ip), per_minute, Instant::now())
    }

    /// One request of an authenticated principal.
    pub fn check_principal(&self, key: &str, per_minute: u32) -> Result<(), ApiError> {
        self.check_principal_at(key, per_minute, Instant::now())
    }

    /// One question to a model by `actor` (a user or an API key): each
    /// costs tokens, so questions have a budget of their own.
    pub fn check_ask(&self, actor: &str, per_minute: u32) -> Result<(), ApiError> {
        self.asks
            .check_at(actor, per_minute, Instant::now())
            .map_err(|e| {
                let retry_after = match e {
                    ApiError::RateLimited { retry_after, .. } => retry_after,
                    _ => 1,
                };
                ApiError::rate_limited(
                    format!(
                        "at most {per_minute} questions a minute to the model per user; wait a moment"
                    ),
                    retry_after,
                )
            })
    }

    pub fn check_principal_at(
        &self,
        key: &str,
        per_minute: u32,
        now: Instant,
    ) -> Result<(), ApiError> {
        self.principals.check_at(key, per_minute, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn buckets_refill_and_refuse_beyond_the_rate() {
        let limiter = RateLimiter::new(10);
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.check_ip_at(ip("10.0.0.1"), 3, t0).unwrap();
        }
        assert!(limiter.check_ip_at(ip("10.0.0.1"), 3, t0).is_err());
        limiter.check_ip_at(ip("10.0.0.2"), 3, t0).unwrap();
        limiter
            .check_ip_at(ip("10.0.0.1"), 3, t0 + Duration::from_secs(20))
            .unwrap();
    }

    #[test]
    fn a_refusal_says_when_the_next_token_comes() {
        let limiter = RateLimiter::new(10);
        let t0 = Instant::now();
        let wait = |r: Result<(), ApiError>| match r {
            Err(ApiError::RateLimited { retry_after, .. }) => retry_after,
            other => panic!("expected a refusal, found {other:?}"),
        };
        // Six a minute: a token every ten seconds.
        for _ in 0..6 {
            limiter.check_principal_at("user:a", 6, t0).unwrap();
        }
        assert_eq!(wait(limiter.check_principal_at("user:a", 6, t0)), 10);
        // Four seconds on, 0.4 of a token has come back: six more to wait.
        let later = t0 + Duration::from_secs(4);
        assert_eq!(wait(limiter.check_principal_at("user:a", 6, later)), 6);
        // Never less than a second, even a moment before the token.
        let almost = t0 + Duration::from_millis(9_990);
        assert_eq!(wait(limiter.check_principal_at("user:a", 6, almost)), 1);
        limiter
            .check_principal_at("user:a", 6, t0 + Duration::from_secs(11))
            .unwrap();
    }

    #[test]
    fn a_full_table_of_live_principals_fails_closed() {
        let limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        limiter.check_principal_at("a", 5, t0).unwrap();
        limiter.check_principal_at("b", 5, t0).unwrap();
        let err = limiter.check_principal_at("c", 5, t0).unwrap_err();
        assert_eq!(err.code(), "rate_limited");
        // Room comes when the first bucket has refilled: one token back at
        // five a minute takes twelve seconds.
        let err = limiter
            .check_principal_at("c", 5, t0 + Duration::from_secs(2))
            .unwrap_err();
        assert!(
            matches!(
                err,
                ApiError::RateLimited {
                    retry_after: 10,
                    ..
                }
            ),
            "{err:?}"
        );
        // Once a bucket has refilled it is forgotten, and room is made.
        limiter
            .check_principal_at("c", 5, t0 + Duration::from_secs(13))
            .unwrap();
    }

    #[test]
    fn a_full_address_table_forgets_its_oldest_and_takes_the_new_address() {
        let limiter = RateLimiter::new(16);
        let t0 = Instant::now();
        // The first address spends its whole bucket, long ago.
        limiter.check_ip_at(ip("10.0.0.1"), 1, t0).unwrap();
        assert!(limiter.check_ip_at(ip("10.0.0.1"), 1, t0).is_err());
        for i in 0..16u8 {
            let later = t0 + Duration::from_millis(1 + u64::from(i));
            limiter
                .check_ip_at(ip(&format!("10.0.1.{i}")), 1000, later)
                .unwrap();
        }
        // Full of live buckets, yet a new address is served, not refused.
        limiter
            .check_ip_at(ip("10.0.2.1"), 1000, t0 + Duration::from_millis(50))
            .unwrap();
        // The principals' table is another table: untouched by the flood.
        limiter.check_principal_at("user:x", 1, t0).unwrap();
    }

    #[test]
    fn classes_do_not_share_buckets() {
        let limiter = RateLimiter::new(10);
        let t0 = Instant::now();
        let a = ip("10.0.0.9");
        limiter.check_ip_at(a, 1, t0).unwrap();
        assert!(limiter.check_ip_at(a, 1, t0).is_err());
        // A sign-in from the same address has a bucket of its own.
        limiter.logins.check_at(&address_key(a), 1, t0).unwrap();
    }

    #[test]
    fn ipv6_addresses_are_keyed_by_their_64() {
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa::1")),
            address_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), "192.0.2.7");
        let limiter = RateLimiter::new(10);
        let t0 = Instant::now();
        limiter.check_ip_at(ip("2001:db8::1"), 1, t0).unwrap();
        assert!(limiter.check_ip_at(ip("2001:db8::2"), 1, t0).is_err());
    }
}

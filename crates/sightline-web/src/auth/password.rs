//! Argon2id password hashes (PHC strings with their own salt and parameters).
//! The server hashes and verifies off its async threads (`hash_async`,
//! `verify_async`): on the blocking pool, at most one per CPU at a time, with
//! a bounded queue, so that a flood of sign-ins costs waiting sign-ins, never
//! the requests (health checks included) that the async threads serve.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use crate::error::ApiError;

/// Hashes waiting for a CPU, per CPU, beyond which a new one is refused at once.
const QUEUE_PER_CPU: usize = 32;

struct Hashing {
    running: std::sync::Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

fn hashing() -> &'static Hashing {
    static HASHING: OnceLock<Hashing> = OnceLock::new();
    HASHING.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Hashing {
            running: std::sync::Arc::new(Semaphore::new(cpus)),
            waiting: AtomicUsize::new(0),
            max_waiting: cpus * QUEUE_PER_CPU,
        }
    })
}

/// Counts a waiter for as long as it waits, even when its request is cancelled.
struct Waiting(&'static Hashing);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A hashing CPU, held from before a sign-in attempt is counted until its
/// password is checked: an attempt that was counted is always checked (and
/// audited), never refused afterwards because the queue filled up.
pub struct Slot {
    /// Released when the slot is dropped, after its hash.
    _permit: OwnedSemaphorePermit,
}

/// Wait for a hashing CPU; refused at once (429) when the queue is full.
pub async fn slot() -> Result<Slot, ApiError> {
    let h = hashing();
    let queued = Waiting(h);
    if h.waiting.fetch_add(1, Ordering::AcqRel) >= h.max_waiting {
        return Err(ApiError::rate_limited(
            "too many sign-ins are being checked at once; try again shortly",
            1,
        ));
    }
    let permit = h
        .running
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::Internal("the password hashing queue is closed".into()))?;
    drop(queued);
    Ok(Slot { _permit: permit })
}

impl Slot {
    /// `verify` on this slot, off the async threads.
    pub async fn verify(self, password: &str, phc: &str) -> Result<bool, ApiError> {
        let password = Zeroizing::new(password.to_owned());
        let phc = phc.to_owned();
        self.run(move || verify(&password, &phc)).await
    }

    /// Run `work` on the blocking pool. The slot goes with the work: a
    /// request cancelled while its hash runs does not free the slot before
    /// the hash is done.
    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        tokio::task::spawn_blocking(move || {
            let _slot = self;
            work()
        })
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing task: {e}")))
    }
}

/// `verify`, off the async threads, once a CPU is free for it.
pub async fn verify_async(password: &str, phc: &str) -> Result<bool, ApiError> {
    slot().await?.verify(password, phc).await
}

/// `hash`, off the async threads, once a CPU is free for it.
pub async fn hash_async(password: &str) -> Result<String, ApiError> {
    let password = Zeroizing::new(password.to_owned());
    slot().await?.run(move || hash(&password)).await?
}

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 256;

fn argon2() -> Argon2<'static> {
    // OWASP's second Argon2id configuration: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn hash(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::encode_b64(&super::tokens::random_bytes::<16>()?)
        .map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
}

pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so that a
/// missing account takes as long to refuse as a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy-password-never-valid").unwrap_or_default())
}

pub fn check_strength(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&n) {
        return Err(ApiError::BadRequest(format!(
            "new_password: expected {MIN_LENGTH} to {MAX_LENGTH} characters, found {n}"
        )));
    }
    Ok(())
}

/// A one-time password for a new account: 20 random characters.
pub fn one_time() -> Result<String, ApiError> {
    super::tokens::random_token(15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify_only_the_password() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert!(!verify("anything", "not a phc string"));
    }
}

//! Password hashing: Argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1), stored as
//! a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), the only form the domain
//! accepts. One hash costs tens of milliseconds of CPU and 19 MiB of memory by design, so the
//! async entry points run it on the blocking pool, never on the runtime's workers, and at most
//! one per core at a time: more would not finish sooner, only hold more memory. A flood of
//! sign-ins waits its turn instead of holding hundreds of buffers (tokio's blocking pool
//! grows to 512 threads, about 10 GB of them).

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::{Arc, LazyLock};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// Shortest password accepted, in characters (OWASP ASVS 2.1.1).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in bytes. Argon2 takes any length, but the work before the
/// memory-hard part grows with it: a bound keeps one request's cost bounded.
pub const MAX_PASSWORD_BYTES: usize = 256;

// OWASP Password Storage Cheat Sheet, Argon2id option 2: 19 MiB, 2 passes, 1 lane.
const M_COST_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const SALT_BYTES: usize = 16;

/// A hash of a random password nobody knows, with the same parameters as real ones. Checking
/// a sign-in for a user that does not exist against it costs as much as checking a real one,
/// so the response time does not tell which usernames exist. A constant (not computed at
/// first use) so that the first such sign-in is not slower than the rest.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$0m4TMVnIDkcx8wCpRexJ2g$yGMeClIBWtxm3qjk5P7Fml/OaV+HC7l+2Z4W6Obm6a4";

/// Why a password was not hashed. Messages never echo the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("could not hash the password: {0}")]
    Hashing(String),
}

/// The password policy, without hashing: cheap, so callers may check before other work.
pub fn check_policy(password: &str) -> Result<(), PasswordError> {
    // Length in bytes first: counting characters of a huge input is itself work.
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
        .expect("the OWASP parameters are within Argon2's limits");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the policy, then hashes with a fresh random salt. Blocks for the hash's duration:
/// from async code use [`hash_blocking`].
pub fn hash(password: &str) -> Result<String, PasswordError> {
    check_policy(password)?;
    let salt: [u8; SALT_BYTES] = rand::random();
    let hash = argon2()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    Ok(hash.to_string())
}

/// True when `password` matches the PHC string `phc`. A malformed hash, or a password over
/// the length limit (it could never have been stored), is simply no match. The hash's own
/// parameters are used, so hashes made with older parameters still verify.
pub fn verify(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    argon2().verify_password(password.as_bytes(), phc).is_ok()
}

/// Turns to hash: one per core the process may use.
static HASHING: LazyLock<Arc<Semaphore>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Arc::new(Semaphore::new(cores))
});

/// Runs `work` on the blocking pool once one of `turns` is free. The turn goes into the
/// task, so a caller that stops waiting (a client that hung up) does not free it while
/// the work still runs. `None` when the task failed.
async fn bounded<T: Send + 'static>(
    turns: &Arc<Semaphore>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    // The semaphore is never closed, so acquiring fails only if it were.
    let turn = Arc::clone(turns).acquire_owned().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        work()
    })
    .await
    .ok()
}

/// [`hash`] on the blocking pool, one hash per core at a time.
pub async fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    // Refuse before waiting for a turn and copying the password.
    check_policy(password)?;
    // The copy the blocking task owns is wiped when it is dropped.
    let password = Zeroizing::new(password.to_owned());
    bounded(&HASHING, move || hash(&password))
        .await
        .unwrap_or_else(|| Err(PasswordError::Hashing("the hashing task failed".into())))
}

/// [`verify`] on the blocking pool, one per core at a time. A failed task counts as no
/// match: deny, never allow.
pub async fn verify_blocking(password: &str, phc: &str) -> bool {
    let password = Zeroizing::new(password.to_owned());
    let phc = phc.to_owned();
    bounded(&HASHING, move || verify(&password, &phc))
        .await
        .unwrap_or(false)
}

/// Checks a sign-in. With no stored hash (no such user, or one without a password) it still
/// verifies against a dummy hash of the same cost and then answers false, so that timing
/// does not reveal which usernames exist.
pub async fn verify_or_dummy(password: &str, phc: Option<&str>) -> bool {
    let matched = verify_blocking(password, phc.unwrap_or(DUMMY_HASH)).await;
    matched && phc.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each hash or verification takes most of a second in a debug build: few of them here.

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let phc = hash_blocking("correct horse battery").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_blocking("correct horse battery", &phc).await);
        assert!(!verify_or_dummy("correct horse batterY", Some(&phc)).await);
    }

    #[tokio::test]
    async fn without_a_user_nothing_matches_yet_the_work_is_done() {
        let started = std::time::Instant::now();
        assert!(!verify_or_dummy("whatever password", None).await);
        // A real verification, not a shortcut: Argon2 with 19 MiB takes milliseconds even
        // in release builds.
        assert!(started.elapsed() >= std::time::Duration::from_millis(2));
    }

    /// Runs `tasks` sleeps through [`bounded`] with `limit` turns; returns the most that ran
    /// at once.
    async fn most_at_once(limit: usize, tasks: usize) -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let turns = Arc::new(Semaphore::new(limit));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let all = (0..tasks).map(|_| {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            bounded(&turns, move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
            })
        });
        let done = futures::future::join_all(all).await;
        assert!(done.iter().all(Option::is_some));
        most.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn no_more_hashes_run_at_once_than_there_are_turns() {
        // Twelve at once would run twelve wide on the blocking pool; two turns hold it to two.
        let most = most_at_once(2, 12).await;
        assert!((1..=2).contains(&most), "{most} ran at once");
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_keeps_the_turn_until_the_work_ends() {
        let turns = Arc::new(Semaphore::new(1));
        let (started, release) = (
            Arc::new(std::sync::Barrier::new(2)),
            Arc::new(std::sync::Barrier::new(2)),
        );
        let (s, r) = (Arc::clone(&started), Arc::clone(&release));
        let waiting = tokio::spawn({
            let turns = Arc::clone(&turns);
            async move {
                bounded(&turns, move || {
                    s.wait();
                    r.wait();
                })
                .await
            }
        });
        tokio::task::spawn_blocking({
            let started = Arc::clone(&started);
            move || started.wait()
        })
        .await
        .unwrap();
        // The caller gives up while its work still runs: the turn is not yet free. (Read
        // before the work is let go, and checked after, so that a failure cannot hang.)
        waiting.abort();
        let _ = waiting.await;
        let free_while_working = turns.available_permits();
        tokio::task::spawn_blocking(move || release.wait())
            .await
            .unwrap();
        assert_eq!(
            free_while_working, 0,
            "the turn came back before the work ended"
        );
        let freed = tokio::time::timeout(std::time::Duration::from_secs(5), turns.acquire());
        assert!(
            freed.await.is_ok(),
            "the turn comes back when the work ends"
        );
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let parsed = argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (M_COST_KIB, T_COST, P_COST)
        );
    }

    #[test]
    fn the_policy_bounds_the_length_with_clear_messages() {
        assert_eq!(check_policy("1234567"), Err(PasswordError::TooShort));
        // Eight characters, though more bytes: the minimum counts characters.
        assert_eq!(check_policy("éééééééé"), Ok(()));
        assert_eq!(check_policy(&"a".repeat(256)), Ok(()));
        assert_eq!(check_policy(&"a".repeat(257)), Err(PasswordError::TooLong));
        assert_eq!(
            hash("short").unwrap_err().to_string(),
            "password must be at least 8 characters"
        );
        assert_eq!(
            PasswordError::TooLong.to_string(),
            "password must be at most 256 bytes"
        );
        // Over the limit never matches, and is refused before any hashing.
        assert!(!verify(&"a".repeat(257), DUMMY_HASH));
        assert!(!verify("not a hash at all", "plain text"));
    }
}

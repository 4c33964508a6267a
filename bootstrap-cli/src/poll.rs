//! Waiting on AWS where the SDK has no waiter: one poll loop and one retry loop, both with
//! backoff, a limit, and a timeout message that says what was awaited and what to check.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::CliError;
use crate::progress::Step;

/// First pause between two looks; it grows up to [`MAX_DELAY`] ([`next_delay`]).
pub const FIRST_DELAY: Duration = Duration::from_millis(500);
/// Longest pause between two looks.
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// The pause after `delay`, `waited` into the wait: twice as long, at most [`MAX_DELAY`], and at
/// most an eighth of the time waited so far (at least [`FIRST_DELAY`]). What ends during a wait
/// is then seen at most an eighth of the wait late (or half a second): a propagation over after
/// 15 s by 16.9 s at worst, where doubling up to ten seconds saw one over after 16 s at 25.5 s.
pub fn next_delay(delay: Duration, waited: Duration) -> Duration {
    (delay * 2).min(MAX_DELAY).min((waited / 8).max(FIRST_DELAY))
}

/// What a poll waits for.
#[derive(Debug, Clone)]
pub struct Wait {
    /// What is awaited, for progress and the timeout message ("capacity provider x to be deleted").
    pub what: String,
    /// How long at most.
    pub limit: Duration,
    /// What to do when it times out.
    pub hint: &'static str,
}

impl Wait {
    /// Waits at most `limit` for `what`.
    pub fn new(what: impl Into<String>, limit: Duration, hint: &'static str) -> Wait {
        Wait {
            what: what.into(),
            limit,
            hint,
        }
    }
}

/// One look at what is awaited.
#[derive(Debug, PartialEq, Eq)]
pub enum Poll<T> {
    /// It happened.
    Done(T),
    /// Not yet; the current state, for progress ("DELETE_IN_PROGRESS").
    Pending(String),
}

/// Looks with `check` until it says [`Poll::Done`], an error, or the limit passes.
pub async fn until<T, F, Fut>(wait: &Wait, step: &Step, mut check: F) -> Result<T, CliError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, CliError>>,
{
    let waited = poll_until(wait, step, &mut check).await;
    step.wait_over();
    waited
}

async fn poll_until<T, F, Fut>(wait: &Wait, step: &Step, check: &mut F) -> Result<T, CliError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, CliError>>,
{
    let started = Instant::now();
    let mut delay = FIRST_DELAY;
    let mut first = true;
    loop {
        match check().await? {
            Poll::Done(value) => return Ok(value),
            Poll::Pending(state) => {
                if started.elapsed() >= wait.limit {
                    return Err(CliError::Timeout {
                        what: format!("{} (still {state})", wait.what),
                        waited_secs: started.elapsed().as_secs(),
                        hint: wait.hint.to_string(),
                    });
                }
                if std::mem::take(&mut first) {
                    step.waiting(&wait.what);
                }
                step.set(&format!("waiting for {}: {state}", wait.what));
                tokio::time::sleep(delay).await;
                delay = next_delay(delay, started.elapsed());
            }
        }
    }
}

/// Runs `call` again while its error is `transient` and `limit` has not passed: AWS's eventual
/// consistency (a resource created a moment ago not yet visible to the next call) and conflicts
/// that clear by themselves. Returns the first success or the last error.
pub async fn retry<T, E, F, Fut>(limit: Duration, transient: impl Fn(&E) -> bool, mut call: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut delay = FIRST_DELAY;
    loop {
        match call().await {
            Err(e) if transient(&e) && started.elapsed() < limit => {
                tracing::info!("not visible or not ready yet; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = next_delay(delay, started.elapsed());
            }
            other => return other,
        }
    }
}

/// What an SDK waiter (the ones the service models define: services stable or inactive, load
/// balancers available or deleted, ...) ended with, as the CLI reports it.
pub fn waited<T, O, E>(
    result: Result<T, WaiterError<O, E>>,
    operation: &'static str,
    wait: &Wait,
) -> Result<T, CliError>
where
    O: std::fmt::Debug,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(done) => Ok(done),
        Err(WaiterError::ExceededMaxWait(w)) => Err(CliError::Timeout {
            what: wait.what.clone(),
            waited_secs: w.elapsed().as_secs(),
            hint: wait.hint.to_string(),
        }),
        Err(WaiterError::OperationFailed(failed)) => Err(crate::error::aws(operation, failed.into_error())),
        Err(WaiterError::FailureState(state)) => Err(CliError::WaitFailed {
            what: wait.what.clone(),
            detail: match state.final_poll().as_result() {
                Ok(_) => "its last answer is one AWS never leaves".to_string(),
                Err(e) => crate::error::error_chain(e),
            },
            hint: wait.hint.to_string(),
        }),
        Err(other) => Err(CliError::WaitFailed {
            what: wait.what.clone(),
            detail: crate::error::error_chain(&other),
            hint: wait.hint.to_string(),
        }),
    }
}

/// A `transient` test for [`retry`]: the error carries AWS error code `code` (for services
/// that model no error type for it, where the code is the contract).
pub fn code_is<E: ProvideErrorMetadata>(code: &'static str) -> impl Fn(&E) -> bool {
    move |e| e.code() == Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Progress;

    #[tokio::test(start_paused = true)]
    async fn a_poll_returns_when_done_and_times_out_naming_what_and_its_state() {
        let step = Progress::silent().step("t");
        let mut looks = 0;
        let got = until(&Wait::new("x", Duration::from_secs(60), "h"), &step, || {
            looks += 1;
            let n = looks;
            async move {
                Ok(if n < 3 {
                    Poll::Pending("busy".into())
                } else {
                    Poll::Done(n)
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(got, 3);
        let err = until::<(), _, _>(
            &Wait::new("the thing", Duration::from_secs(5), "run it again"),
            &step,
            || async { Ok(Poll::Pending("DELETE_IN_PROGRESS".into())) },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("the thing (still DELETE_IN_PROGRESS)") && err.contains("run it again"),
            "{err}"
        );
    }

    #[test]
    fn what_ends_during_a_wait_is_seen_at_most_an_eighth_of_it_late() {
        for quarter in 1..=1200 {
            let ends = Duration::from_millis(250 * quarter);
            let (mut at, mut delay, mut looks) = (Duration::ZERO, FIRST_DELAY, 1);
            while at < ends {
                at += delay;
                delay = next_delay(delay, at);
                looks += 1;
            }
            let late = at - ends;
            assert!(late <= (ends / 8).max(FIRST_DELAY), "{ends:?}: seen at {at:?}");
            // Not a busy loop: 140 s (a load balancer provisioning) takes about forty looks.
            if ends == Duration::from_secs(140) {
                assert!(looks <= 45, "{looks} looks");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_stops_at_success_at_a_lasting_error_and_at_the_limit() {
        let mut calls = 0;
        let ok: Result<u32, &str> = retry(
            Duration::from_secs(60),
            |e| *e == "later",
            || {
                calls += 1;
                let n = calls;
                async move {
                    if n < 3 {
                        Err("later")
                    } else {
                        Ok(n)
                    }
                }
            },
        )
        .await;
        assert_eq!(ok, Ok(3));
        let mut calls = 0;
        let lasting: Result<(), &str> = retry(
            Duration::from_secs(60),
            |e| *e == "later",
            || {
                calls += 1;
                async { Err("never") }
            },
        )
        .await;
        assert_eq!((lasting, calls), (Err("never"), 1));
        let limited: Result<(), &str> = retry(Duration::from_secs(5), |_| true, || async { Err("later") }).await;
        assert_eq!(limited, Err("later"));
    }
}

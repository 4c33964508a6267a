//! A per-service deploy lock, so concurrent deploys of one service (several Lambda invocations,
//! `pushdeploy deploy` or `rollback` beside the function) run one at a time and never register
//! duplicate revisions or downgrade each other.
//!
//! The lock is an item of the app's DynamoDB table (`pushdeploy-<app>-locks`, created by `up`),
//! keyed by `<cluster>/<service>`. Acquire is one conditional PutItem that creates the item, takes
//! over one whose lease has expired, or finds its own earlier write (a retry after a lost answer),
//! atomically: `attribute_not_exists(lock) OR expires_ms < :now OR token = :token`. Release is a
//! DeleteItem conditioned on the token still being ours. The lease follows the holder: a Lambda
//! invocation's deadline plus a margin, so a killed invocation blocks its service for at most the
//! rest of its timeout; the CLI holds a fixed lease. Throttling and 5xx mean "busy, wait": every
//! wait sleeps with jitter and stops at the deadline, and a lock still busy then is the retryable
//! `Retryable.ServiceBusy`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use crate::config::ConfigError;
use crate::error::{aws_error, Error};

/// The table's partition key: `<cluster>/<service>`.
pub const KEY: &str = "lock";
/// Who holds the lock, for people and for the `Busy` error.
const OWNER: &str = "owner";
/// What makes one acquisition ours: a fresh random value per acquire.
const TOKEN: &str = "token";
/// When the lease ends, ms since the epoch: what a contender compares.
const EXPIRES_MS: &str = "expires_ms";
/// The same in seconds: the table's TTL attribute, which lets DynamoDB clean up stale items.
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// How far past the Lambda deadline a function's lease runs: the runtime stops the invocation at
/// its deadline, so a lease that long never expires under a live holder.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);
/// Time a waiting function keeps for its own deploy (four ECS calls) before its deadline.
const DEPLOY_RESERVE: Duration = Duration::from_secs(5);

/// The app's lock table.
pub fn table_name(app: &str) -> String {
    format!("pushdeploy-{app}-locks")
}

/// The item key of one service's lock.
pub fn key(cluster: &str, service: &str) -> String {
    format!("{cluster}/{service}")
}

/// How long a lock is held without a deadline, and how long a deploy waits for one.
#[derive(Debug, Clone, Copy)]
pub struct LockSettings {
    /// Lease length for a holder without a deadline (the CLI): longer than any deploy takes.
    pub lease: Duration,
    /// How long to wait for a busy lock before failing with a retryable error.
    pub wait: Duration,
}

impl Default for LockSettings {
    fn default() -> Self {
        LockSettings {
            lease: Duration::from_secs(120),
            wait: Duration::from_secs(20),
        }
    }
}

/// Who takes a lock: a name for people, and the deadline of the work, when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `<request id>` for the function, `pushdeploy deploy pid <n>` for the CLI.
    pub owner: String,
    /// When the holder stops for sure (a Lambda invocation's deadline).
    pub deadline: Option<SystemTime>,
}

impl Holder {
    /// A holder with a deadline: its lease ends with it (plus a margin).
    pub fn until(owner: &str, deadline: SystemTime) -> Holder {
        Holder {
            owner: owner.to_string(),
            deadline: Some(deadline),
        }
    }

    /// When a lease taken now ends.
    fn lease_end(&self, settings: LockSettings) -> SystemTime {
        match self.deadline {
            Some(deadline) => deadline + DEADLINE_MARGIN,
            None => SystemTime::now() + settings.lease,
        }
    }

    /// How long this holder may wait for a busy lock, from `started`.
    fn may_wait(&self, settings: LockSettings) -> Duration {
        let left = (self.deadline)
            .map(|d| d.duration_since(SystemTime::now()).unwrap_or_default())
            .map_or(settings.wait, |left| left.saturating_sub(DEPLOY_RESERVE));
        settings.wait.min(left)
    }
}

impl From<&str> for Holder {
    fn from(owner: &str) -> Holder {
        Holder {
            owner: owner.to_string(),
            deadline: None,
        }
    }
}

impl From<&String> for Holder {
    fn from(owner: &String) -> Holder {
        Holder::from(owner.as_str())
    }
}

impl From<&Holder> for Holder {
    fn from(holder: &Holder) -> Holder {
        holder.clone()
    }
}

/// One service's lock in `table`.
#[derive(Debug, Clone, Copy)]
pub struct Lock<'a> {
    /// The app's lock table.
    pub table: &'a str,
    /// Cluster name.
    pub cluster: &'a str,
    /// Service name.
    pub service: &'a str,
}

/// A held lock; [`Lease::release`] it when done.
#[derive(Debug)]
pub struct Lease {
    table: String,
    key: String,
    token: String,
    /// Who held it before and never released it (a killed invocation, a laptop that slept):
    /// its deploy may have stopped half-way.
    pub taken_over: Option<String>,
}

fn ms_since_epoch(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

/// A value no other acquisition has: the process's random hasher keys, a counter and the time.
pub(crate) fn fresh_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(ms_since_epoch(SystemTime::now()));
    hasher.write_u32(std::process::id());
    format!("{:016x}{:08x}", hasher.finish(), std::process::id())
}

/// A pause of between half and all of `delay`, so contenders do not poll in step.
pub(crate) fn jittered(delay: Duration) -> Duration {
    let random = RandomState::new().build_hasher().finish();
    let half = delay / 2;
    half + Duration::from_nanos(random % (half.as_nanos().max(1) as u64))
}

/// Why a conditional put did not take the lock.
enum Refused {
    /// A live holder has it.
    Held(String),
    /// DynamoDB throttled or failed the write (after the SDK's own retries): wait and try again.
    Busy(Error),
}

/// Takes `lock`, waiting (with jitter, within the holder's deadline) while another live holder
/// has it or DynamoDB is busy.
///
/// IAM: `dynamodb:PutItem` on `arn:aws:dynamodb:<region>:<account>:table/pushdeploy-<app>-locks`.
pub async fn acquire(
    db: &aws_sdk_dynamodb::Client,
    lock: Lock<'_>,
    holder: &Holder,
    settings: LockSettings,
) -> Result<Lease, Error> {
    let started = Instant::now();
    let may_wait = holder.may_wait(settings);
    let token = fresh_token();
    let mut delay = Duration::from_millis(100);
    loop {
        let refused = match put(db, lock, holder, &token, settings).await? {
            Ok(taken_over) => {
                if let Some(previous) = &taken_over {
                    tracing::warn!(lock = %key(lock.cluster, lock.service), previous = %previous, "took over a deploy lock its holder never released");
                }
                return Ok(Lease {
                    table: lock.table.to_string(),
                    key: key(lock.cluster, lock.service),
                    token,
                    taken_over,
                });
            }
            Err(refused) => refused,
        };
        if started.elapsed() + delay / 2 >= may_wait {
            let holder = match refused {
                Refused::Held(owner) => owner,
                Refused::Busy(e) => format!("nobody known: DynamoDB kept refusing the lock ({e})"),
            };
            return Err(Error::Busy {
                cluster: lock.cluster.to_string(),
                service: lock.service.to_string(),
                holder,
                waited_secs: started.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(jittered(delay)).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// One conditional PutItem: `Ok` when the lock is ours now (created, found written by our own
/// earlier attempt, or taken over from the holder named), else why not.
async fn put(
    db: &aws_sdk_dynamodb::Client,
    lock: Lock<'_>,
    holder: &Holder,
    token: &str,
    settings: LockSettings,
) -> Result<Result<Option<String>, Refused>, Error> {
    let ends = holder.lease_end(settings);
    let number = |n: u128| AttributeValue::N(n.to_string());
    let string = |s: &str| AttributeValue::S(s.to_string());
    let sent = db
        .put_item()
        .table_name(lock.table)
        .item(KEY, string(&key(lock.cluster, lock.service)))
        .item(OWNER, string(&holder.owner))
        .item(TOKEN, string(token))
        .item(EXPIRES_MS, number(ms_since_epoch(ends)))
        .item(TTL_ATTRIBUTE, number(ms_since_epoch(ends) / 1000))
        .condition_expression("attribute_not_exists(#key) OR #expires < :now OR #token = :token")
        .expression_attribute_names("#key", KEY)
        .expression_attribute_names("#expires", EXPIRES_MS)
        .expression_attribute_names("#token", TOKEN)
        .expression_attribute_values(":now", number(ms_since_epoch(SystemTime::now())))
        .expression_attribute_values(":token", string(token))
        .return_values(ReturnValue::AllOld)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    let e = match sent {
        Ok(out) => {
            let previous = out.attributes();
            let theirs = previous.is_some_and(|p| p.get(TOKEN).and_then(|t| t.as_s().ok()) != Some(&token.to_string()));
            let owner = previous.and_then(|p| p.get(OWNER)?.as_s().ok().cloned());
            return Ok(Ok(theirs.then(|| owner.unwrap_or_else(|| "an unknown holder".into()))));
        }
        Err(e) => e,
    };
    if let Some(refusal) = e.as_service_error() {
        if let PutItemError::ConditionalCheckFailedException(failed) = refusal {
            let owner = (failed.item().and_then(|i| i.get(OWNER)))
                .and_then(|o| o.as_s().ok())
                .map_or("another deploy", String::as_str);
            return Ok(Err(Refused::Held(owner.to_string())));
        }
        if refusal.is_resource_not_found_exception() {
            return Err(ConfigError::LockTableMissing {
                table: lock.table.to_string(),
            }
            .into());
        }
    }
    match aws_error("dynamodb:PutItem", e) {
        busy if busy.is_retryable() => Ok(Err(Refused::Busy(busy))),
        fatal => Err(fatal),
    }
}

/// Runs `work` holding `lock`: the engine's redeploy, `pushdeploy rollback` and `up`'s change of
/// a revision all go through here, so no two of them change one service at once.
///
/// IAM: as [`acquire`] and [`Lease::release`].
pub async fn with_lock<T, E, F>(
    db: &aws_sdk_dynamodb::Client,
    lock: Lock<'_>,
    holder: &Holder,
    settings: LockSettings,
    work: F,
) -> Result<T, E>
where
    F: std::future::Future<Output = Result<T, E>>,
    E: From<Error>,
{
    let lease = acquire(db, lock, holder, settings).await?;
    let result = work.await;
    lease.release(db).await;
    result
}

impl Lease {
    /// Gives the lock back if it is still ours. A failure is logged, not returned: the deploy
    /// itself is done, and the lease expires on its own.
    ///
    /// IAM: `dynamodb:DeleteItem` on the lock table.
    pub async fn release(self, db: &aws_sdk_dynamodb::Client) {
        let deleted = db
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(self.key.clone()))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", TOKEN)
            .expression_attribute_values(":token", AttributeValue::S(self.token.clone()))
            .send()
            .await;
        match deleted {
            Ok(_) => {}
            // Ours no more: the lease ran out and another deploy took the lock over (or a
            // retry of this very delete found it gone).
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                tracing::warn!(lock = %self.key, "the deploy outlived its lease; the lock is someone else's now");
            }
            Err(e) => {
                let e = aws_error("dynamodb:DeleteItem", e);
                tracing::warn!(lock = %self.key, error = %e, "could not release deploy lock; it expires with its lease");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_dynamodb::operation::put_item::PutItemInput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use serde_json::json;

    use super::*;
    use crate::test_mocks::{failure, ok};

    const LOCK: Lock<'static> = Lock {
        table: "pushdeploy-shop-locks",
        cluster: "shop",
        service: "web",
    };
    const SETTINGS: LockSettings = LockSettings {
        lease: Duration::from_secs(30),
        wait: Duration::from_millis(600),
    };

    type Seen = Arc<Mutex<Vec<PutItemInput>>>;

    fn number(values: Option<&std::collections::HashMap<String, AttributeValue>>, name: &str) -> u128 {
        values.and_then(|v| v.get(name)?.as_n().ok()?.parse().ok()).unwrap_or(0)
    }

    fn text(values: Option<&std::collections::HashMap<String, AttributeValue>>, name: &str) -> String {
        values
            .and_then(|v| v.get(name)?.as_s().ok().cloned())
            .unwrap_or_default()
    }

    /// ConditionalCheckFailed with the holder's item, as DynamoDB answers with ALL_OLD.
    fn held_by(owner: &str) -> HttpResponse {
        let body = json!({"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed",
            "Item": {"lock": {"S": "shop/web"}, "owner": {"S": owner}, "token": {"S": "theirs"},
                     "expires_ms": {"N": "99999999999999"}}});
        HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
            aws_smithy_types::body::SdkBody::from(body.to_string()),
        )
    }

    /// A lock table client whose PutItem answers `answers` in turn (the last one from then on),
    /// recording every request; DeleteItem succeeds.
    fn table(seen: &Seen, answers: Vec<fn() -> HttpResponse>) -> aws_sdk_dynamodb::Client {
        let record = seen.clone();
        let mut put = mock!(aws_sdk_dynamodb::Client::put_item)
            .match_requests(move |r| {
                record.lock().unwrap().push(r.clone());
                true
            })
            .sequence();
        let last = *answers.last().unwrap();
        for answer in answers {
            put = put.http_response(answer);
        }
        let put = put.http_response(last).times(1000).build();
        let delete = mock!(aws_sdk_dynamodb::Client::delete_item).then_http_response(|| ok(json!({})));
        // The SDK's own three attempts, with short pauses: a unit test does not wait out backoff.
        let quick = aws_smithy_types::retry::RetryConfig::standard().with_initial_backoff(Duration::from_millis(1));
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put, &delete], |c| c
            .retry_config(quick.clone()))
    }

    fn now_ms() -> u128 {
        ms_since_epoch(SystemTime::now())
    }

    #[tokio::test]
    async fn one_conditional_put_takes_a_free_or_expired_lock_with_a_lease_from_now() {
        let seen = Seen::default();
        let db = table(&seen, vec![|| ok(json!({}))]);
        acquire(&db, LOCK, &Holder::from("laptop"), SETTINGS).await.unwrap();
        let put = seen.lock().unwrap()[0].clone();
        assert_eq!(put.table_name(), Some("pushdeploy-shop-locks"));
        assert_eq!(
            put.condition_expression(),
            Some("attribute_not_exists(#key) OR #expires < :now OR #token = :token"),
            "creates, takes over an expired lease, or finds its own write: one atomic put"
        );
        let names = put.expression_attribute_names().unwrap();
        assert_eq!(
            (names["#key"].as_str(), names["#expires"].as_str()),
            ("lock", "expires_ms")
        );
        assert_eq!(text(put.item(), "lock"), "shop/web");
        assert_eq!(text(put.item(), "owner"), "laptop");
        assert_eq!(
            text(put.item(), "token"),
            text(put.expression_attribute_values(), ":token")
        );
        assert!(number(put.expression_attribute_values(), ":now").abs_diff(now_ms()) < 2_000);
        let expires = number(put.item(), "expires_ms");
        assert!(expires.abs_diff(now_ms() + 30_000) < 2_000, "the CLI's fixed lease");
        assert_eq!(number(put.item(), TTL_ATTRIBUTE), expires / 1000, "the TTL in seconds");
        assert_eq!(
            put.return_values_on_condition_check_failure(),
            Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        );
    }

    #[tokio::test]
    async fn a_function_holds_its_lock_until_its_deadline_plus_a_margin() {
        let seen = Seen::default();
        let db = table(&seen, vec![|| ok(json!({}))]);
        let deadline = SystemTime::now() + Duration::from_secs(40);
        acquire(&db, LOCK, &Holder::until("req-1", deadline), SETTINGS)
            .await
            .unwrap();
        let expires = number(seen.lock().unwrap()[0].item(), "expires_ms");
        assert_eq!(expires, ms_since_epoch(deadline + DEADLINE_MARGIN));
    }

    #[tokio::test]
    async fn a_write_whose_answer_was_lost_is_retried_with_the_same_token_and_found_ours() {
        // The first put was applied, its answer lost: the SDK's own three attempts end in 500s;
        // the engine's next put carries the same token, so DynamoDB's `token = :token` branch
        // lets it through (the SDK's retries resend the very same request too).
        let seen = Seen::default();
        let lost = || failure(500, "InternalServerError");
        let db = table(&seen, vec![lost, lost, lost, || ok(json!({}))]);
        let settings = LockSettings {
            wait: Duration::from_secs(5),
            ..SETTINGS
        };
        let lease = acquire(&db, LOCK, &Holder::from("laptop"), settings).await.unwrap();
        let seen = seen.lock().unwrap();
        assert!(seen.len() >= 2, "tried again: {}", seen.len());
        let tokens: std::collections::BTreeSet<String> = seen.iter().map(|p| text(p.item(), "token")).collect();
        assert_eq!(tokens.len(), 1, "one token per acquire, whatever the retries");
        assert_eq!(lease.token, *tokens.first().unwrap());
    }

    #[tokio::test]
    async fn throttling_is_waited_out_with_jitter_and_then_the_lock_is_taken() {
        let seen = Seen::default();
        let db = table(
            &seen,
            vec![
                || failure(400, "ThrottlingException"),
                || failure(400, "ThrottlingException"),
                || failure(400, "ThrottlingException"),
                || failure(400, "ProvisionedThroughputExceededException"),
                || failure(400, "ProvisionedThroughputExceededException"),
                || failure(400, "ProvisionedThroughputExceededException"),
                || ok(json!({})),
            ],
        );
        let settings = LockSettings {
            wait: Duration::from_secs(5),
            ..SETTINGS
        };
        acquire(&db, LOCK, &Holder::from("laptop"), settings).await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 3, "each put after the SDK's three attempts");
    }

    #[tokio::test]
    async fn a_lock_that_stays_busy_past_the_wait_is_the_retryable_service_busy() {
        let seen = Seen::default();
        let db = table(&seen, vec![|| held_by("pushdeploy up pid 7")]);
        let started = Instant::now();
        let err = acquire(&db, LOCK, &Holder::from("laptop"), SETTINGS).await.unwrap_err();
        assert!(
            matches!(&err, Error::Busy { holder, .. } if holder == "pushdeploy up pid 7"),
            "{err:?}"
        );
        assert_eq!(err.error_type(), "Retryable.ServiceBusy");
        assert!(started.elapsed() < Duration::from_secs(2), "within the wait");
        assert!(seen.lock().unwrap().len() >= 2, "it tried again while waiting");

        let throttled = Seen::default();
        let db = table(&throttled, vec![|| failure(400, "ThrottlingException")]);
        let err = acquire(&db, LOCK, &Holder::from("laptop"), SETTINGS).await.unwrap_err();
        assert!(
            matches!(&err, Error::Busy { holder, .. } if holder.contains("DynamoDB")),
            "{err:?}"
        );
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn a_function_near_its_deadline_does_not_wait_for_a_busy_lock() {
        let seen = Seen::default();
        let db = table(&seen, vec![|| held_by("req-0")]);
        let soon = SystemTime::now() + Duration::from_secs(3);
        let settings = LockSettings {
            wait: Duration::from_secs(20),
            ..SETTINGS
        };
        let err = acquire(&db, LOCK, &Holder::until("req-1", soon), settings)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Busy { .. }), "{err:?}");
        assert_eq!(seen.lock().unwrap().len(), 1, "no wait: the deadline leaves no room");
    }

    #[tokio::test]
    async fn a_missing_table_is_a_config_error_that_says_to_run_up_and_a_denial_is_fatal() {
        let seen = Seen::default();
        let db = table(&seen, vec![|| failure(400, "ResourceNotFoundException")]);
        let err = acquire(&db, LOCK, &Holder::from("laptop"), SETTINGS).await.unwrap_err();
        assert_eq!(err.error_type(), "Fatal.ConfigError");
        assert!(err.to_string().contains("pushdeploy-shop-locks") && err.to_string().contains("pushdeploy up"));
        let denied = Seen::default();
        let db = table(&denied, vec![|| failure(400, "AccessDeniedException")]);
        let err = acquire(&db, LOCK, &Holder::from("laptop"), SETTINGS).await.unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Aws {
                    operation: "dynamodb:PutItem",
                    retryable: false,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(denied.lock().unwrap().len(), 1, "not waited out");
    }

    #[tokio::test]
    async fn release_deletes_only_while_the_token_is_ours_and_tolerates_a_takeover() {
        let deletes: Arc<Mutex<Vec<(Option<String>, String)>>> = Arc::default();
        let record = deletes.clone();
        let taken_over = mock!(aws_sdk_dynamodb::Client::delete_item)
            .match_requests(move |r| {
                let token = (r.expression_attribute_values())
                    .and_then(|v| v.get(":token")?.as_s().ok().cloned())
                    .unwrap_or_default();
                record
                    .lock()
                    .unwrap()
                    .push((r.condition_expression().map(str::to_string), token));
                true
            })
            .then_http_response(|| failure(400, "ConditionalCheckFailedException"));
        let db = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&taken_over]);
        let lease = Lease {
            table: LOCK.table.into(),
            key: "shop/web".into(),
            token: "mine".into(),
            taken_over: None,
        };
        lease.release(&db).await;
        assert_eq!(
            deletes.lock().unwrap().as_slice(),
            [(Some("#token = :token".to_string()), "mine".to_string())],
            "released by someone else's hand (a takeover): logged, not an error"
        );
    }

    #[test]
    fn tokens_differ_and_jitter_stays_between_half_and_all_of_the_delay() {
        let tokens: std::collections::BTreeSet<String> = (0..100).map(|_| fresh_token()).collect();
        assert_eq!(tokens.len(), 100);
        for _ in 0..100 {
            let d = jittered(Duration::from_millis(800));
            assert!(
                d >= Duration::from_millis(400) && d <= Duration::from_millis(800),
                "{d:?}"
            );
        }
        assert_eq!(table_name("shop"), "pushdeploy-shop-locks");
        assert_eq!(key("shop", "web"), "shop/web");
    }
}

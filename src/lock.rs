//! A per-service deploy lock, so concurrent deploys of one service (several Lambda invocations,
//! or `pushdeploy deploy` beside the function) run one at a time and never register duplicate
//! revisions or downgrade each other.
//!
//! The lock is an SSM parameter created with `Overwrite=false`, which SSM creates atomically or
//! refuses with `ParameterAlreadyExists`. Its value names the holder and when its lease ends, so a
//! lock left by a crashed holder is taken over once the lease has expired.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_ssm::types::ParameterType;

use crate::error::{aws_error, Error};

/// How long a lock is held at most, and how long a deploy waits for one.
#[derive(Debug, Clone, Copy)]
pub struct LockSettings {
    /// Lease length; longer than any deploy can take (the function's timeout), so a live
    /// holder never loses its lock.
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

/// A held lock; [`Lease::release`] it when done.
#[derive(Debug)]
pub struct Lease {
    name: String,
    /// Wall-clock end of the lease, in ms since the epoch (as written into the lock). The wall
    /// clock, not a monotonic one: a laptop's monotonic clock stops while it sleeps.
    expires_ms: u128,
    /// How close to its end the lease is too close to release: a contender may take it over.
    margin_ms: u128,
}

/// SSM parameter name of the lock for one service, next to the app's config parameter.
pub fn lock_name(config_parameter: &str, cluster: &str, service: &str) -> String {
    let prefix = config_parameter.rsplit_once('/').map_or("", |(parent, _)| parent);
    format!("{prefix}/locks/{cluster}/{service}")
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// Takes the lock `name`, waiting while another live holder has it.
///
/// IAM: `ssm:PutParameter`, `ssm:GetParameter`, `ssm:DeleteParameter` on
/// `parameter/pushdeploy/<app>/locks/*`.
pub async fn acquire(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    owner: &str,
    settings: LockSettings,
    what: (&str, &str),
) -> Result<Lease, Error> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        let expires_ms = now_ms() + settings.lease.as_millis();
        let value = format!("{owner} {expires_ms}");
        let put = ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(false)
            .description("pushdeploy deploy lock: delete it only if no deploy is running")
            .send()
            .await;
        match put {
            Ok(_) => {
                return Ok(Lease {
                    name: name.to_string(),
                    expires_ms,
                    margin_ms: (settings.lease.as_millis() / 4).min(5_000),
                })
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_already_exists()) => {}
            Err(e) => return Err(aws_error("ssm:PutParameter", e)),
        }
        let holder = match ssm.get_parameter().name(name).send().await {
            Ok(out) => out.parameter.and_then(|p| p.value).unwrap_or_default(),
            // Released between our put and our read: try again at once.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => continue,
            Err(e) => return Err(aws_error("ssm:GetParameter", e)),
        };
        let (holder_name, expires) = holder.rsplit_once(' ').unwrap_or((holder.as_str(), "0"));
        if expires.parse::<u128>().unwrap_or(0) <= now_ms() {
            tracing::warn!(lock = name, holder = holder_name, "taking over an expired deploy lock");
            delete(ssm, name).await?;
            continue;
        }
        if started.elapsed() >= settings.wait {
            return Err(Error::Busy {
                cluster: what.0.to_string(),
                service: what.1.to_string(),
                holder: holder_name.to_string(),
                waited_secs: started.elapsed().as_secs(),
            });
        }
        // Jitter from the clock keeps contenders from polling in step.
        let jitter = Duration::from_millis((now_ms() % 50) as u64);
        tokio::time::sleep(delay + jitter).await;
        delay = (delay * 2).min(Duration::from_millis(800));
    }
}

/// Runs `work` holding the lock `name`: the engine's redeploy, `pushdeploy rollback` and `up`'s
/// resize all go through here, so no two of them change one service at once.
///
/// IAM: as [`acquire`].
pub async fn with_lock<T, E, F>(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    owner: &str,
    settings: LockSettings,
    what: (&str, &str),
    work: F,
) -> Result<T, E>
where
    F: std::future::Future<Output = Result<T, E>>,
    E: From<Error>,
{
    let lease = acquire(ssm, name, owner, settings, what).await?;
    let result = work.await;
    lease.release(ssm).await;
    result
}

async fn delete(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<(), Error> {
    match ssm.delete_parameter().name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_parameter_not_found()) => Ok(()),
        Err(e) => Err(aws_error("ssm:DeleteParameter", e)),
    }
}

impl Lease {
    /// Whether the lease still holds with room to spare at `now_ms`: only then may the holder
    /// delete the lock. A holder that outlived its lease (a laptop that slept, a stalled
    /// process) may find the lock taken over by the next deploy, and SSM cannot delete a
    /// parameter only if its value is still ours.
    pub fn held_at(&self, now_ms: u128) -> bool {
        now_ms + self.margin_ms < self.expires_ms
    }

    /// Gives the lock back, if it is still ours ([`Lease::held_at`]); an expired lease is left
    /// to its next holder (or to expire). A failure is logged, not returned: the deploy itself
    /// is done, and the lease expires on its own.
    pub async fn release(self, ssm: &aws_sdk_ssm::Client) {
        if !self.held_at(now_ms()) {
            tracing::warn!(lock = %self.name, "the deploy outlived its lease; leaving the lock to whoever took it over");
            return;
        }
        if let Err(e) = delete(ssm, &self.name).await {
            tracing::warn!(lock = %self.name, error = %e, "could not release deploy lock; it expires with its lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_live_beside_the_config_parameter() {
        assert_eq!(
            lock_name("/pushdeploy/demo/config", "demo", "web"),
            "/pushdeploy/demo/locks/demo/web"
        );
        assert_eq!(lock_name("/org/deploy-config", "c", "s"), "/org/locks/c/s");
    }

    #[test]
    fn a_lease_is_released_only_while_it_holds_with_room_to_spare() {
        let lease = Lease {
            name: "l".into(),
            expires_ms: 100_000,
            margin_ms: 5_000,
        };
        assert!(lease.held_at(0));
        assert!(lease.held_at(94_999));
        assert!(
            !lease.held_at(95_000),
            "too close to its end: a contender may take it over"
        );
        assert!(!lease.held_at(200_000), "expired");
    }

    use crate::test_mocks::{failure, ok};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    const SETTINGS: LockSettings = LockSettings {
        lease: Duration::from_secs(30),
        wait: Duration::from_millis(300),
    };

    /// A PutParameter whose value is `<owner> <now + lease>`, to the second.
    fn puts_a_lease_of_now_plus_30_s() -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_ssm::Client::put_parameter)
            .match_requests(|r| {
                let expires: u128 = r
                    .value()
                    .and_then(|v| v.rsplit_once(' '))
                    .map_or(0, |(_, e)| e.parse().unwrap_or(0));
                r.value().is_some_and(|v| v.starts_with("me "))
                    && r.overwrite() == Some(false)
                    && expires.abs_diff(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 30_000)
                        < 2_000
            })
            .sequence()
            .http_response(|| failure(400, "ParameterAlreadyExists"))
            .http_response(|| ok(serde_json::json!({"Version": 1})))
            .build()
    }

    fn held_by(value: &'static str) -> aws_smithy_mocks::Rule {
        mock!(aws_sdk_ssm::Client::get_parameter).then_http_response(move || {
            ok(serde_json::json!({"Parameter": {"Name": "l", "Value": value, "Type": "String", "Version": 1}}))
        })
    }

    #[tokio::test]
    async fn an_expired_holder_is_taken_over_and_the_lease_runs_from_now() {
        let put = puts_a_lease_of_now_plus_30_s();
        let get = held_by("a-sleeping-laptop 1000");
        let delete = mock!(aws_sdk_ssm::Client::delete_parameter).then_http_response(|| ok(serde_json::json!({})));
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&put, &get, &delete]);
        let lease = acquire(&ssm, "l", "me", SETTINGS, ("c", "s")).await.unwrap();
        assert_eq!((put.num_calls(), get.num_calls(), delete.num_calls()), (2, 1, 1));
        assert!(lease.held_at(now_ms()), "a fresh lease holds");
        assert_eq!(lease.margin_ms, 5_000);
    }

    #[tokio::test]
    async fn a_takeover_whose_holder_is_already_gone_goes_on_and_a_refused_delete_is_an_error() {
        let put = puts_a_lease_of_now_plus_30_s();
        let get = held_by("a-sleeping-laptop 1000");
        let gone =
            mock!(aws_sdk_ssm::Client::delete_parameter).then_http_response(|| failure(400, "ParameterNotFound"));
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&put, &get, &gone]);
        acquire(&ssm, "l", "me", SETTINGS, ("c", "s")).await.unwrap();
        assert_eq!((put.num_calls(), gone.num_calls()), (2, 1));

        let put = puts_a_lease_of_now_plus_30_s();
        let get = held_by("a-sleeping-laptop 1000");
        let denied =
            mock!(aws_sdk_ssm::Client::delete_parameter).then_http_response(|| failure(400, "AccessDeniedException"));
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&put, &get, &denied]);
        let err = acquire(&ssm, "l", "me", SETTINGS, ("c", "s")).await.unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Aws {
                    operation: "ssm:DeleteParameter",
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(put.num_calls(), 1, "no second put after a refused delete");
    }

    #[tokio::test]
    async fn a_holder_that_lets_go_while_the_deploy_waits_hands_it_the_lock() {
        let put = puts_a_lease_of_now_plus_30_s();
        let get = held_by("pushdeploy up pid 7 99999999999999");
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&put, &get]);
        let settings = LockSettings {
            lease: Duration::from_secs(30),
            wait: Duration::from_secs(5),
        };
        // The first put finds the lock held (the live holder is read), the second takes it after
        // one short wait: 50 ms and a jitter under 50 ms, well inside the test's time.
        let took = tokio::time::timeout(Duration::from_secs(3), acquire(&ssm, "l", "me", settings, ("c", "s")))
            .await
            .expect("one short wait, not a long one");
        took.unwrap();
        assert_eq!((put.num_calls(), get.num_calls()), (2, 1));
    }

    #[tokio::test]
    async fn a_live_holder_makes_the_deploy_wait_then_give_up_as_busy() {
        let put =
            mock!(aws_sdk_ssm::Client::put_parameter).then_http_response(|| failure(400, "ParameterAlreadyExists"));
        let get = held_by("pushdeploy up pid 7 99999999999999");
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&put, &get]);
        let err = acquire(&ssm, "l", "me", SETTINGS, ("c", "s")).await.unwrap_err();
        assert!(
            matches!(&err, Error::Busy { holder, .. } if holder == "pushdeploy up pid 7"),
            "{err:?}"
        );
        assert!(put.num_calls() >= 2, "it tried again while waiting");
    }

    #[tokio::test]
    async fn a_put_refused_for_another_reason_is_an_error_not_a_wait() {
        let put =
            mock!(aws_sdk_ssm::Client::put_parameter).then_http_response(|| failure(400, "AccessDeniedException"));
        let get = held_by("x 1");
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&put, &get]);
        let err = acquire(&ssm, "l", "me", SETTINGS, ("c", "s")).await.unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Aws {
                    operation: "ssm:PutParameter",
                    retryable: false,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(get.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_lock_released_between_put_and_read_is_tried_again_and_a_failed_read_is_an_error() {
        let put = puts_a_lease_of_now_plus_30_s();
        let gone = mock!(aws_sdk_ssm::Client::get_parameter).then_http_response(|| failure(400, "ParameterNotFound"));
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&put, &gone]);
        acquire(&ssm, "l", "me", SETTINGS, ("c", "s")).await.unwrap();
        assert_eq!((put.num_calls(), gone.num_calls()), (2, 1));

        let put =
            mock!(aws_sdk_ssm::Client::put_parameter).then_http_response(|| failure(400, "ParameterAlreadyExists"));
        let denied =
            mock!(aws_sdk_ssm::Client::get_parameter).then_http_response(|| failure(400, "AccessDeniedException"));
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&put, &denied]);
        let err = acquire(&ssm, "l", "me", SETTINGS, ("c", "s")).await.unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Aws {
                    operation: "ssm:GetParameter",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn the_release_margin_is_a_quarter_of_the_lease_and_at_most_5_s() {
        for (lease, margin) in [(8, 2_000), (60, 5_000)] {
            let put =
                mock!(aws_sdk_ssm::Client::put_parameter).then_http_response(|| ok(serde_json::json!({"Version": 1})));
            let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&put]);
            let settings = LockSettings {
                lease: Duration::from_secs(lease),
                wait: Duration::ZERO,
            };
            let lease = acquire(&ssm, "l", "me", settings, ("c", "s")).await.unwrap();
            assert_eq!(lease.margin_ms, margin);
        }
    }
}

//! The Lambda handler: one event in, one outcome per service out, each also logged as a JSON line.

use lambda_runtime::LambdaEvent;
use serde_json::Value;

use crate::engine::Engine;
use crate::error::Error;
use crate::lock::Holder;
use crate::outcome::Outcome;

/// Handles one invocation. Failures worth retrying return `Err`, so Lambda retries the event
/// and finally sends it to the dead-letter destination; nothing is swallowed.
pub async fn handle(engine: &Engine, event: LambdaEvent<Value>) -> Result<Vec<Outcome>, Error> {
    let deadline = std::time::UNIX_EPOCH + std::time::Duration::from_millis(event.context.deadline);
    let holder = Holder::until(&event.context.request_id, deadline);
    let result = engine.handle_event(&event.payload, holder).await;
    let outcomes = match &result {
        Ok(outcomes) | Err(Error::Partial { outcomes, .. }) => outcomes.as_slice(),
        Err(_) => &[],
    };
    for outcome in outcomes {
        println!("{}", outcome.to_json_line());
    }
    if let Err(e) = &result {
        tracing::error!(error_type = %e.error_type(), retryable = e.is_retryable(), "{e}");
    }
    result
}

//! `pushdeploy event`: prints a real-shaped ECR push event, for `cargo lambda invoke --data-file`.

use std::process::ExitCode;

use chrono::Utc;
use pushdeploy::event::{push_event, Push};
use pushdeploy::image::{is_digest, ImageRef};

use crate::cli::{EventArgs, GlobalArgs};
use crate::context::Context;
use crate::error::{aws, missing, CliError};

/// Prints the event.
pub async fn run(args: EventArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let ctx = Context::connect(global, None).await?;
    let push = build(&args, &ctx).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&push_event(&push)).map_err(std::io::Error::from)?
    );
    Ok(ExitCode::SUCCESS)
}

/// The push the event describes: with `--digest`, that digest pushed now; else the tag (default
/// `latest`) resolved in ECR.
///
/// IAM: `ecr:DescribeImages`, or with `--digest` `sts:GetCallerIdentity` (for the account).
pub async fn build(args: &EventArgs, ctx: &Context) -> Result<Push, CliError> {
    let region = ctx.region().to_string();
    if let Some(digest) = &args.digest {
        if !is_digest(digest) {
            return Err(CliError::BadDigest { digest: digest.clone() });
        }
        let who = ctx
            .sts()
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws("sts:GetCallerIdentity", e))?;
        return Ok(Push {
            account: who.account.ok_or_else(|| missing("sts:GetCallerIdentity", "Account"))?,
            region,
            repository: args.repository.clone(),
            digest: digest.clone(),
            tag: args.tag.clone(),
            pushed_at: Utc::now(),
        });
    }
    let image = ImageRef {
        registry: None,
        repository: args.repository.clone(),
        tag: Some(args.tag.clone().unwrap_or_else(|| "latest".into())),
        digest: None,
    };
    let found = crate::ecr::resolve(ctx, &image).await?;
    Ok(Push {
        account: found.account,
        region,
        repository: args.repository.clone(),
        digest: found.digest,
        tag: found.tags.into_iter().next(),
        pushed_at: found.pushed_at,
    })
}

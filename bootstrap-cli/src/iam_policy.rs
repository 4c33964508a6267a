//! IAM policy documents the app file decides: the execution role's read access to exactly the
//! secrets the services name (and `kms:Decrypt` only with the keys the file names), and the ARN
//! shapes those grants rest on. Below both the app file (which checks the policy fits IAM's
//! limit before any call) and the role resource (which writes it).

use std::collections::BTreeSet;

use serde_json::{json, Value};

/// The inline policy pushdeploy writes on the execution role: read the services' secrets.
pub const SECRETS_POLICY: &str = "pushdeploy-secrets";

/// IAM's limit on a role's inline policies, all together, in characters (IAM quotas).
pub const MAX_INLINE_POLICY_LEN: usize = 10_240;

/// One service's secrets (`valueFrom` ARNs) and the KMS key that decrypts them, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSource {
    /// SSM parameter or Secrets Manager ARNs.
    pub secrets: Vec<String>,
    /// The customer managed key, when the secrets are encrypted with one.
    pub kms_key: Option<String>,
}

/// What the execution role needs to hand the services' secrets to their containers: each
/// parameter or secret by ARN, and `kms:Decrypt` only with the keys the file names. `None` when
/// no service has secrets.
pub fn secrets_policy(sources: &[SecretSource]) -> Option<Value> {
    let mut parameters = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for source in sources {
        for arn in &source.secrets {
            let resource = secret_resource(arn);
            if resource.split(':').nth(2) == Some("ssm") {
                parameters.insert(resource.to_string());
            } else {
                secrets.insert(secret_grant(resource));
            }
        }
        if !source.secrets.is_empty() {
            keys.extend(source.kms_key.clone());
        }
    }
    let mut statements = Vec::new();
    if !parameters.is_empty() {
        statements.push(
            json!({"Sid": "Parameters", "Effect": "Allow", "Action": "ssm:GetParameters", "Resource": parameters}),
        );
    }
    if !secrets.is_empty() {
        statements.push(json!({"Sid": "Secrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secrets}));
    }
    if !keys.is_empty() {
        statements.push(json!({"Sid": "Keys", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": keys}));
    }
    (!statements.is_empty()).then(|| json!({"Version": "2012-10-17", "Statement": statements}))
}

/// Whether `arn` is `arn:<partition>:<service>:<region>:<account>:<rest>` with a 12-digit
/// account, `rest` starting with `prefix`; `region` may be empty only when `global`.
pub fn is_arn(arn: &str, service: &str, prefix: &str, global: bool) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [scheme, partition, svc, region, account, rest] = parts[..] else {
        return false;
    };
    scheme == "arn"
        && matches!(partition, "aws" | "aws-cn" | "aws-us-gov")
        && svc == service
        && (global
            || (!region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')))
        && (global == region.is_empty())
        && ((account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())) || (global && account == "aws"))
        && rest.len() > prefix.len()
        && rest.starts_with(prefix)
}

/// An SSM parameter ARN, or a Secrets Manager secret ARN (with an optional
/// `:json-key:version-stage:version-id`), as ECS takes in `valueFrom`.
pub fn is_secret_arn(arn: &str) -> bool {
    is_arn(arn, "ssm", "parameter/", false) || is_arn(arn, "secretsmanager", "secret:", false)
}

/// The Resource that grants a Secrets Manager secret. IAM matches the secret's full ARN, which
/// ends with `-` and six random characters; a partial ARN (without them) is granted with `-??????`,
/// as the Secrets Manager user guide documents, so it matches that secret and no longer name.
pub fn secret_grant(secret: &str) -> String {
    let name = secret.rsplit_once(":secret:").map_or("", |(_, n)| n);
    let suffix = name.rsplit_once('-').map_or("", |(_, s)| s);
    if suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric()) {
        secret.to_string()
    } else {
        format!("{secret}-??????")
    }
}

/// What IAM grants for a secret: the parameter, or the secret without ECS's JSON-key suffix.
pub fn secret_resource(arn: &str) -> &str {
    if is_arn(arn, "secretsmanager", "secret:", false) {
        // arn:aws:secretsmanager:region:account:secret:name-AbCdEf[:json-key:stage:version]
        let end = arn.match_indices(':').nth(6).map_or(arn.len(), |(i, _)| i);
        &arn[..end]
    } else {
        arn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/db-AbC123";

    #[test]
    fn a_partial_secret_arn_is_granted_with_six_wildcards_and_a_full_one_as_it_is() {
        assert_eq!(secret_grant(FULL), FULL);
        let partial = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/db";
        assert_eq!(secret_grant(partial), format!("{partial}-??????"));
        assert_eq!(
            secret_grant("arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-db-prod"),
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop-db-prod-??????",
            "a name part of four characters is not the suffix"
        );
        let policy = secrets_policy(&[SecretSource {
            secrets: vec![format!("{partial}:password::"), format!("{FULL}:user::")],
            kms_key: None,
        }])
        .unwrap();
        assert_eq!(
            policy["Statement"][0]["Resource"],
            serde_json::json!([format!("{partial}-??????"), FULL])
        );
    }
}

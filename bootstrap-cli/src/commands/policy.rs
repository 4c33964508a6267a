//! `pushdeploy policy`: the least-privilege policy a person (or a CI role) needs to run every
//! command for this app file: `iam/bootstrap-policy.json` with the account, the Region and the
//! app filled in, and the managed policies task roles may be given limited to exactly those the
//! file names. Attach it instead of the generic file, which covers any app.

use std::fmt;
use std::process::ExitCode;

use pushdeploy::region::Partition;
use serde::Serialize;
use serde_json::{json, Value};

use crate::app_file::App;
use crate::cli::{AppArgs, GlobalArgs};
use crate::context::Context;
use crate::error::{aws, missing, CliError};
use crate::output::print;

/// The generic laptop policy this one narrows.
const GENERIC: &str = include_str!("../../../iam/bootstrap-policy.json");
/// The statement that lets task roles be given managed policies.
const TASK_ROLE_POLICIES: &str = "TaskRolePoliciesFromTheAppFile";

/// The policy, as IAM takes it.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Policy(pub Value);

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", serde_json::to_string_pretty(&self.0).map_err(|_| fmt::Error)?)
    }
}

/// Runs `policy`.
///
/// IAM: `sts:GetCallerIdentity` (the account).
pub async fn run(args: AppArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.file.as_deref(), args.app.as_deref())?;
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    let account = (ctx.sts().get_caller_identity().send().await)
        .map_err(|e| aws("sts:GetCallerIdentity", e))?
        .account
        .ok_or_else(|| missing("sts:GetCallerIdentity", "Account"))?;
    print(ctx.output, &policy_for(&app, &account, ctx.region()))?;
    Ok(ExitCode::SUCCESS)
}

/// `resource` of the generic policy narrowed to `app` in `account` and `region`.
fn narrowed(resource: &str, app: &App, account: &str, region: &str) -> Vec<String> {
    let partition = Partition::of(region).arn_name();
    let name = &app.name;
    let mut text = resource.replacen("arn:aws:", &format!("arn:{partition}:"), 1);
    for (generic, own) in [
        (":*:*:".to_string(), format!(":{region}:{account}:")),
        (":*::".to_string(), format!(":{region}::")),
        ("iam::*:".to_string(), format!("iam::{account}:")),
        ("role/pushdeploy/*".to_string(), format!("role/pushdeploy/{name}/*")),
        (
            "table/pushdeploy-*-locks".to_string(),
            format!("table/pushdeploy-{name}-locks"),
        ),
        (
            "log-group:/pushdeploy/*".to_string(),
            format!("log-group:/pushdeploy/{name}/*"),
        ),
    ] {
        text = text.replace(&generic, &own);
    }
    // Names outside the app's IAM path and parameter path are named exactly: a wildcard after
    // `pushdeploy-shop-` would also match the app `shop-admin`.
    let names = &app.names;
    let (head, tail) = text.rsplit_once(':').unwrap_or(("", &text));
    let exact = |names: Vec<String>| names.into_iter().map(|n| format!("{head}:{n}")).collect();
    let task_roles = || {
        app.services()
            .iter()
            .map(|s| format!("role/{}", names.task_role(&s.spec.name)))
            .collect::<Vec<_>>()
    };
    match tail {
        "role/pushdeploy-*-instance" => return exact(vec![format!("role/{}", names.instance_role())]),
        "instance-profile/pushdeploy-*" => {
            return exact(vec![format!("instance-profile/{}", names.instance_profile())])
        }
        // Roles made before roles moved under the app's path, which `up` replaces.
        "role/pushdeploy-*-task" => return exact(task_roles()),
        "role/pushdeploy-*" => {
            // A role looked for by name before it exists (the infrastructure role, which `down`
            // looks for in every app) is authorized as one at the root path.
            let mut roles = vec![
                format!("role/{}", names.instance_role()),
                format!("role/{}", names.execution_role()),
                format!("role/{}", names.infrastructure_role()),
            ];
            roles.extend(task_roles());
            return exact(roles);
        }
        "parameter/pushdeploy/*" => {
            let path = names.parameter_path();
            return exact(vec![format!("parameter{path}"), format!("parameter{path}/*")]);
        }
        _ => {}
    }
    if text.ends_with(":repository/*") {
        // The app's repositories: its prefix, and each one outside it by name.
        let base = text.trim_end_matches('*').to_string();
        let mut repositories = vec![format!("{base}{name}/*")];
        for s in app.services() {
            if !s.repository.starts_with(&format!("{name}/"))
                && !repositories.contains(&format!("{base}{}", s.repository))
            {
                repositories.push(format!("{base}{}", s.repository));
            }
        }
        return repositories;
    }
    vec![text]
}

/// The policy for `app` in `account` and `region`.
pub fn policy_for(app: &App, account: &str, region: &str) -> Policy {
    let mut policy: Value = serde_json::from_str(GENERIC).expect("iam/bootstrap-policy.json is JSON");
    let partition = Partition::of(region).arn_name();
    let named: Vec<String> = app
        .services()
        .iter()
        .flat_map(|s| s.spec.task_role_policies.clone())
        .collect();
    let statements = policy["Statement"].as_array_mut().expect("statements");
    statements.retain(|s| s["Sid"] != TASK_ROLE_POLICIES || !named.is_empty());
    for statement in statements.iter_mut() {
        let resources: Vec<String> = match &statement["Resource"] {
            Value::String(r) => vec![r.clone()],
            Value::Array(list) => list.iter().filter_map(|r| r.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        };
        let mut narrowed_all: Vec<String> = Vec::new();
        for r in resources.iter().flat_map(|r| narrowed(r, app, account, region)) {
            if !narrowed_all.contains(&r) {
                narrowed_all.push(r);
            }
        }
        statement["Resource"] = match narrowed_all.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        if statement["Sid"] == TASK_ROLE_POLICIES {
            statement["Condition"] = json!({"ArnEquals": {"iam:PolicyARN": named}});
        }
    }
    // The AWS-managed policies in conditions live in the Region's partition too.
    let text = policy
        .to_string()
        .replace("arn:aws:iam::aws:", &format!("arn:{partition}:iam::aws:"));
    Policy(serde_json::from_str(&text).expect("still JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app_file::AppFile;

    fn app(text: &str) -> App {
        let file: AppFile = toml::from_str(text).unwrap();
        App::resolve(file, Some("shop"), "test", Some(text)).unwrap()
    }

    fn statement<'a>(policy: &'a Policy, sid: &str) -> &'a Value {
        (policy.0["Statement"].as_array().unwrap().iter())
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"))
    }

    #[test]
    fn the_policy_names_this_apps_resources_in_its_account_and_region_only() {
        let shop = app("[[services]]\nname = \"web\"\n[[services]]\nname = \"worker\"\npath = \"/w/*\"\nrepository = \"shared/worker\"\ntask_role_policies = [\"arn:aws:iam::123456789012:policy/shop-queue\"]\n");
        let policy = policy_for(&shop, "123456789012", "eu-west-1");
        let text = policy.0.to_string();
        assert!(!text.contains("arn:aws:iam::*:"), "no other account: {text}");
        assert!(!text.contains(":*:*:"), "no other Region or account");
        assert_eq!(
            statement(&policy, "DeployLockTables")["Resource"],
            "arn:aws:dynamodb:eu-west-1:123456789012:table/pushdeploy-shop-locks"
        );
        assert_eq!(
            statement(&policy, "Repositories")["Resource"],
            json!([
                "arn:aws:ecr:eu-west-1:123456789012:repository/shop/*",
                "arn:aws:ecr:eu-west-1:123456789012:repository/shared/worker"
            ])
        );
        let roles = statement(&policy, "PassTheAppsRolesToEc2AndEcs")["Resource"].to_string();
        assert!(
            roles.contains("role/pushdeploy/shop/*") && roles.contains("role/pushdeploy-shop-instance"),
            "{roles}"
        );
        assert!(
            !roles.contains("pushdeploy-shop-*"),
            "no wildcard that app shop-admin matches too: {roles}"
        );
        assert_eq!(
            statement(&policy, "TheInstanceRoleIntoItsProfile")["Resource"],
            "arn:aws:iam::123456789012:role/pushdeploy-shop-instance"
        );
        assert_eq!(
            statement(&policy, "RoutingConfig")["Resource"],
            json!([
                "arn:aws:ssm:eu-west-1:123456789012:parameter/pushdeploy",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/pushdeploy/shop",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/pushdeploy/shop/*"
            ])
        );
        assert_eq!(
            statement(&policy, TASK_ROLE_POLICIES)["Condition"],
            json!({"ArnEquals": {"iam:PolicyARN": ["arn:aws:iam::123456789012:policy/shop-queue"]}}),
            "exactly the file's policies: no escalation"
        );
        let plain = policy_for(&app("[[services]]\nname = \"web\"\n"), "123456789012", "cn-north-1");
        assert!(
            !plain.0.to_string().contains(TASK_ROLE_POLICIES),
            "no task role policies in the file: no grant to attach any"
        );
        assert!(plain
            .0
            .to_string()
            .contains("arn:aws-cn:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"));
    }
}

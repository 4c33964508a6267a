//! The traps of a first hour (issue 18), each through the real binary on the strict emulator:
//! the wrong folder, `--profile` against environment keys, a rollback that `resume` and the next
//! sync would undo, a rollback to a revision that cannot run, explicit deploys that deploy
//! nothing, the wrong Region.

use std::process::Output;

use pushdeploy::Action;
use serde_json::json;

use crate::cli::put_image;
use crate::emulator::{emulator, REGION};
use crate::first_contact::run;
use crate::fixture::{container, described, image, push_event, unique, App};

/// The binary in a fresh folder holding `files`, against the shared emulator with the default
/// account's keys in the environment.
pub(crate) fn pd(args: &[&str], files: &[(&str, &str)]) -> Output {
    let endpoint = emulator().endpoint.clone();
    run(
        args,
        &[
            ("AWS_REGION", REGION),
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        files,
    )
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_folder_without_an_app_file_says_so_and_up_there_refuses_to_change_the_app() {
    let name = unique("folder");
    let file =
        format!("name = \"{name}\"\n[[services]]\nname = \"web\"\n[[services]]\nname = \"api\"\npath = \"/api/*\"\n");
    let out = pd(&["up"], &[("pushdeploy.toml", &file)]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.lines().next().is_some_and(|l| l.contains(&format!("app {name}"))
            && l.contains(REGION)
            && l.contains("123456789012")
            && l.contains("pushdeploy.toml")),
        "the first line says what it acts on: {err}"
    );

    // The wrong folder: no file, the app named on the command line.
    let out = pd(&["plan", "--app", &name], &[]);
    let (_, err) = text(&out);
    assert!(
        err.lines().next().is_some_and(|l| l.contains("no file: defaults")),
        "{err}"
    );
    let out = pd(&["up", "--app", &name], &[]);
    let (stdout, err) = text(&out);
    assert!(
        !out.status.success(),
        "up with the defaults over an existing app: {stdout}{err}"
    );
    assert!(
        err.contains("pushdeploy.toml") && err.contains("-f") && err.contains("api"),
        "names the file it looked for, -f and what the defaults would change: {err}"
    );
    // Nothing changed: the api route is still there.
    let out = pd(&["plan"], &[("pushdeploy.toml", &file)]);
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(!stdout.contains("remove route"), "{stdout}");
}

#[test]
fn profile_wins_over_environment_keys_and_an_unknown_profile_is_an_error() {
    let out = pd(&["status", "--app", "nosuchapp", "--profile", "nosuch"], &[]);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("profile nosuch") && err.contains("config"),
        "an unknown profile is named: {err}"
    );
    // A profile of another account beats the environment's keys, as with the aws CLI.
    let config = "[profile other]\naws_access_key_id = PDACCT210987654321XX\naws_secret_access_key = x\n";
    let endpoint = emulator().endpoint.clone();
    let out = run(
        &["plan", "--app", &unique("prof"), "--profile", "other"],
        &[
            ("AWS_REGION", REGION),
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_CONFIG_FILE", "config"),
        ],
        &[("config", config)],
    );
    let (_, err) = text(&out);
    assert!(
        err.lines().next().is_some_and(|l| l.contains("210987654321")),
        "the profile's account: {err}"
    );
}

#[test]
fn the_wrong_region_says_there_is_no_app_there_and_a_bad_region_flag_is_refused() {
    let name = unique("region");
    let out = pd(&["up", "--app", &name], &[]);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = pd(&["status", "--app", &name, "--region", "us-west-2"], &[]);
    let (stdout, err) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        err.contains(&format!("no app {name} in us-west-2")) && err.contains("123456789012"),
        "{err}"
    );
    assert!(
        !stdout.contains("missing") && !err.contains("pushdeploy up"),
        "{stdout}{err}"
    );
    let out = pd(&["status", "--app", &name, "--region", "us east 1"], &[]);
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("not an AWS region") && !err.contains("host label"),
        "{err}"
    );
}

/// An app of the fixture with revision 1 on `v1` and an ECR repository holding v1 and v2.
async fn app_with_two_images(prefix: &str, v1_in_ecr: bool) -> (App, String) {
    let app = App::new(prefix).await;
    let repo = format!("{}/web", app.name);
    app.service("web", vec![container("web", &image(&repo, "v1"))]).await;
    app.config(json!([app.route("web", &repo)])).await;
    if v1_in_ecr {
        put_image(&app, &repo, "v1", "c1").await;
    }
    put_image(&app, &repo, "v2", "c2").await;
    (app, repo)
}

#[tokio::test]
async fn a_rollback_is_remembered_so_resume_and_the_next_sync_do_not_undo_it() {
    let (app, repo) = app_with_two_images("rollmem", true).await;
    let name = app.name.clone();
    let v2 = format!("{repo}:v2");
    let out = pd(&["deploy", "--app", &name, "--service", "web", "--image", &v2], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    let rolled_away = app.running_images("web").await[0].1.clone();

    let out = pd(&["rollback", "--app", &name, "--service", "web"], &[]);
    assert!(out.status.success(), "{:?}", text(&out));

    // Paused: an explicit deploy deploys nothing, exits non-zero and names `resume`.
    let out = pd(
        &["deploy", "--app", &name, "--service", "web", "--image", &v2, "--force"],
        &[],
    );
    let (stdout, err) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(err.contains("pushdeploy resume"), "{stdout}{err}");

    let out = pd(&["resume", "--app", &name, "--service", "web"], &[]);
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        stdout.contains("next push") && stdout.contains("next sync"),
        "resume says what comes next: {stdout}"
    );
    // The image rolled away from is remembered: neither a sync nor a replayed event puts it back.
    let out = pd(&["sync", "--app", &name, "--dry-run"], &[]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("failed-before"),
        "the rolled-away image is remembered: {stdout}"
    );
    let digest_v2 = rolled_away.rsplit('@').next().unwrap().to_string();
    let replay = app
        .handle(&push_event(&repo, Some("v2"), &digest_v2, "2026-11-30T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(replay[0].action, Action::Skipped);
    assert_eq!(replay[0].reason, "failed-before");
    // An explicit deploy of it exits non-zero and names --force; --force puts it back.
    let out = pd(&["deploy", "--app", &name, "--service", "web", "--image", &v2], &[]);
    let (stdout, err) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(err.contains("--force"), "{err}");
    let out = pd(
        &["deploy", "--app", &name, "--service", "web", "--image", &v2, "--force"],
        &[],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(app.running_images("web").await[0].1, rolled_away);
    // A newer push deploys as usual.
    let fresh = put_image(&app, &repo, "v3", "c3").await;
    let later = (chrono::Utc::now() + chrono::Duration::minutes(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let pushed = app
        .handle(&push_event(&repo, Some("v3"), &fresh, &later))
        .await
        .unwrap();
    assert_eq!(pushed[0].action, Action::Deployed, "{pushed:?}");
}

#[tokio::test]
async fn a_rollback_to_a_revision_whose_image_is_not_in_ecr_is_refused_and_to_the_running_one_is_a_no_op() {
    let (app, repo) = app_with_two_images("rollnoimg", false).await;
    let name = app.name.clone();
    let out = pd(
        &[
            "deploy",
            "--app",
            &name,
            "--service",
            "web",
            "--image",
            &format!("{repo}:v2"),
        ],
        &[],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let running = app.running_arn("web").await;

    let out = pd(&["rollback", "--app", &name, "--service", "web"], &[]);
    let (stdout, err) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        err.contains(&format!("{repo}:v1")) && err.contains("not in ECR"),
        "says which image cannot run: {err}"
    );
    assert_eq!(app.running_arn("web").await, running, "nothing changed");
    assert!(!app
        .described("web")
        .await
        .tags()
        .iter()
        .any(|t| t.key() == Some("pushdeploy:paused")));

    let number = running.rsplit(':').next().unwrap().to_string();
    let out = pd(&["rollback", "--app", &name, "--service", "web", "--to", &number], &[]);
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout.contains("already runs"), "{stdout}");
    assert!(!app
        .described("web")
        .await
        .tags()
        .iter()
        .any(|t| t.key() == Some("pushdeploy:paused")));
}

#[tokio::test]
async fn plan_shows_a_port_change_and_a_service_removed_from_the_file_and_up_moves_the_port() {
    let name = unique("planport");
    let both =
        format!("name = \"{name}\"\n[[services]]\nname = \"web\"\n[[services]]\nname = \"api\"\npath = \"/api/*\"\n");
    let out = pd(&["up"], &[("pushdeploy.toml", &both)]);
    assert!(out.status.success(), "{}", text(&out).1);
    let (stdout, _) = text(&out);
    assert!(
        stdout.lines().any(|l| l.contains(" created, 0 updated, ")),
        "up ends with what changed: {stdout}"
    );

    // A first image on port 80, to roll back to later.
    let sdk = crate::emulator::sdk_config().await;
    crate::cli::put_image_with(&sdk, &format!("{name}/web"), "v1", "d1").await;
    let v1 = format!("{name}/web:v1");
    let out = pd(&["deploy", "--app", &name, "--service", "web", "--image", &v1], &[]);
    assert!(out.status.success(), "{:?}", text(&out));

    let web_only = format!("name = \"{name}\"\n[[services]]\nname = \"web\"\nport = 8080\n");
    let out = pd(&["plan"], &[("pushdeploy.toml", &web_only)]);
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let line = |needle: &str| {
        stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("task definition ").contains("port 80 -> 8080"),
        "the port change is shown on the task definition: {stdout}"
    );
    let api = (stdout.lines())
        .find(|l| l.starts_with("ecs service") && l.contains(&format!("{name}/api ")))
        .unwrap_or_default();
    assert!(
        api.contains("not in the file") && api.contains("leaves it running"),
        "the removed service is listed with what up does to it: {stdout}"
    );

    let out = pd(&["up"], &[("pushdeploy.toml", &web_only)]);
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(stdout.contains("1 service not in the file (left running)"), "{stdout}");
    // The load balancer follows the port, in one deployment: ECS refuses either alone.
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let service = described(&ecs, &name, "web").await;
    assert_eq!(service.load_balancers()[0].container_port(), Some(8080));
    let running = ecs
        .describe_task_definition()
        .task_definition(service.task_definition().unwrap())
        .send()
        .await
        .unwrap();
    let mapping = &running.task_definition().unwrap().container_definitions()[0].port_mappings()[0];
    assert_eq!((mapping.container_port(), mapping.host_port()), (Some(8080), Some(0)));
    // The api service is still there, as the plan said.
    assert_eq!(described(&ecs, &name, "api").await.status(), Some("ACTIVE"));
    let out = pd(&["plan"], &[("pushdeploy.toml", &web_only)]);
    let (stdout, _) = text(&out);
    assert!(!stdout.contains("port 80"), "applied: {stdout}");
    assert!(
        stdout.contains("plan: 0 of "),
        "a service not in the file is not a change: {stdout}"
    );

    // A rollback to the revision before the port change takes the load balancer back with it.
    let out = pd(&["rollback", "--app", &name, "--service", "web"], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    let service = described(&ecs, &name, "web").await;
    assert_eq!(service.load_balancers()[0].container_port(), Some(80));
}

#[tokio::test]
async fn sync_dry_run_says_what_would_deploy_over_which_revision() {
    let (app, _) = app_with_two_images("syncdry", true).await;
    let out = pd(&["sync", "--app", &app.name, "--dry-run"], &[]);
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let family = app.running_arn("web").await.rsplit('/').next().unwrap().to_string();
    assert!(
        stdout.contains(&format!("would deploy v2 (sha256:")) && stdout.contains(&format!("over {family}")),
        "{stdout}"
    );
    assert!(!stdout.contains("skipped"), "{stdout}");
}

#[test]
fn without_a_terminal_up_lists_each_resource_once_and_down_deletes_services_together_saying_what_it_waits_for() {
    let name = unique("pipes");
    let file =
        format!("name = \"{name}\"\n[[services]]\nname = \"web\"\n[[services]]\nname = \"api\"\npath = \"/api/*\"\n");
    let out = pd(&["up"], &[("pushdeploy.toml", &file)]);
    let (stdout, err) = text(&out);
    assert!(out.status.success(), "{err}");
    // The table on stdout names every resource; stderr does not repeat it line by line.
    assert!(stdout.contains(&format!("ecs service          {name}/api")), "{stdout}");
    assert!(
        !err.lines()
            .any(|l| l.starts_with("ecs service") || l.starts_with("security group")),
        "{err}"
    );
    // -v adds a line per step, each with one elapsed time.
    let out = pd(&["plan", "-v"], &[("pushdeploy.toml", &file)]);
    let (_, err) = text(&out);
    let step = (err.lines())
        .find(|l| l.starts_with(&format!("ecs service {name}/web:")))
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(step.matches("s)").count(), 1, "{step}");

    let out = pd(&["down", "--yes"], &[("pushdeploy.toml", &file)]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    let at = |needle: &str| {
        (err.lines())
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}: {err}"))
    };
    // Both drains start before either ends: the services go together.
    let starts = [
        at(&format!("delete ecs service {name}/web: waiting for")),
        at(&format!("delete ecs service {name}/api: waiting for")),
    ];
    let ends = [
        at(&format!("delete ecs service {name}/web: deleted")),
        at(&format!("delete ecs service {name}/api: deleted")),
    ];
    assert!(starts.iter().max() < ends.iter().min(), "{err}");
}

#[test]
fn debug_logs_piped_have_no_colour_codes() {
    let out = pd(&["plan", "--app", &unique("nocolour"), "-vv"], &[]);
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.lines().count() > 5, "-vv logs the requests: {err}");
    assert!(!err.contains('\u{1b}'), "no escape codes when stderr is a pipe: {err}");
}

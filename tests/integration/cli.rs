//! `pushdeploy deploy`: the engine's code path from the laptop, with the image resolved in ECR.

use pushdeploy::Action;
use pushdeploy_cli::cli::{AppArgs, DeployArgs, OutputFormat};
use pushdeploy_cli::commands::deploy::deploy;
use pushdeploy_cli::{CliError, Context};
use serde_json::json;

use crate::fixture::{container, image, App, REGISTRY};

/// Puts an image into the emulator's ECR and returns the digest ECR gives it.
pub async fn put_image(app: &App, repository: &str, tag: &str, layer: &str) -> String {
    put_image_with(&app.sdk, repository, tag, layer).await
}

/// [`put_image`] with any SDK config.
pub async fn put_image_with(sdk: &aws_config::SdkConfig, repository: &str, tag: &str, layer: &str) -> String {
    let ecr = aws_sdk_ecr::Client::new(sdk);
    let _ = ecr.create_repository().repository_name(repository).send().await;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                   "digest": format!("sha256:{:0>64}", layer)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                    "digest": format!("sha256:{:0>64}", layer)}]
    });
    let out = ecr
        .put_image()
        .repository_name(repository)
        .image_manifest(manifest.to_string())
        .image_tag(tag)
        .send()
        .await
        .expect("put image");
    out.image.unwrap().image_id.unwrap().image_digest.unwrap()
}

fn args(app: &App, service: &str, image: &str) -> DeployArgs {
    DeployArgs {
        app: AppArgs {
            app: Some(app.name.clone()),
            file: None,
        },
        service: service.into(),
        image: image.into(),
        cluster: None,
        force: false,
        wait: pushdeploy_cli::cli::WaitArgs {
            wait: false,
            timeout: 900,
            wait_until: pushdeploy_cli::cli::WaitUntil::Completed,
        },
    }
}

#[tokio::test]
async fn deploy_resolves_the_tag_in_ecr_and_redeploys_like_the_lambda() {
    let app = App::new("clideploy").await;
    let repo = format!("{}/web", app.name);
    app.service("web", vec![container("web", &image(&repo, "v1"))]).await;
    app.config(json!([app.route("web", &repo)])).await;
    let digest = put_image(&app, &repo, "v2", "a1").await;
    let ctx = Context::new(app.sdk.clone(), OutputFormat::Json);

    let outcomes = deploy(&args(&app, "web", &format!("{repo}:v2")), &ctx).await.unwrap();
    assert_eq!(outcomes[0].action, Action::Deployed);
    assert_eq!(
        app.running_images("web").await[0].1,
        format!("{REGISTRY}/{repo}@{digest}")
    );
    let (_, tags) = app.task_definition(&app.running_arn("web").await).await;
    assert!(tags
        .iter()
        .any(|t| t.key.as_deref() == Some(&format!("pushdeploy:tag:{repo}")) && t.value.as_deref() == Some("v2")));

    let again = deploy(&args(&app, "web", &format!("{REGISTRY}/{repo}@{digest}")), &ctx)
        .await
        .unwrap();
    assert_eq!(again[0].reason, "already-running");
}

#[tokio::test]
async fn deploy_explains_what_is_wrong_with_its_arguments() {
    let app = App::new("clierrors").await;
    let repo = format!("{}/web", app.name);
    app.service("web", vec![container("web", &image(&repo, "v1"))]).await;
    app.config(json!([app.route("web", &repo)])).await;
    let digest = put_image(&app, &repo, "v2", "b2").await;
    let ctx = Context::new(app.sdk.clone(), OutputFormat::Json);

    let err = deploy(&args(&app, "api", &format!("{repo}:v2")), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(err, CliError::UnknownService { .. }), "{err:?}");
    assert!(err.to_string().contains("(services: web)"), "{err}");
    // A service of the app, another repository: the routes say which runs what.
    let err = deploy(&args(&app, "web", &format!("{}/other:v2", app.name)), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(err, CliError::NoRoute { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("{}/web<-{repo}", app.cluster)),
        "{err}"
    );

    let err = deploy(&args(&app, "web", &format!("{repo}:v9")), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(err, CliError::ImageNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("tags there, newest first: v2"), "{err}");
    let err = deploy(&args(&app, "web", &repo), &ctx).await.unwrap_err();
    assert!(err.to_string().contains("no tag means `latest`"), "{err}");

    let other = format!("{}/nothing", app.name);
    app.config(json!([app.route("web", &repo), app.route("web", &other)]))
        .await;
    let err = deploy(&args(&app, "web", &format!("{other}:v1")), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(err, CliError::RepositoryNotFound { .. }), "{err:?}");

    let wrong = format!("sha256:{}", "f".repeat(64));
    let err = deploy(&args(&app, "web", &format!("{repo}:v2@{wrong}")), &ctx)
        .await
        .unwrap_err();
    assert!(
        matches!(err, CliError::TagDigestMismatch { ref actual, .. } if *actual == digest),
        "{err:?}"
    );

    let err = deploy(&args(&app, "web", "not a ref"), &ctx).await.unwrap_err();
    assert!(err.to_string().contains("invalid image reference"), "{err}");

    let mut bad_app = args(&app, "web", &repo);
    bad_app.app.app = Some("no/slashes".into());
    let err = deploy(&bad_app, &ctx).await.unwrap_err();
    assert!(err.to_string().contains("not a valid app name"), "{err}");
}

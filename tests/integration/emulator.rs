//! Starts one strict emulator (`tests/emulator/pushdeploy_emulator.py`: moto, patched to enforce
//! what AWS enforces) per test binary on a free loopback port, and stops it when the binary exits.
//! Set `PUSHDEPLOY_TEST_ENDPOINT` to use an emulator that is already running.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Region every test uses; moto's default account is 123456789012.
pub const REGION: &str = "us-east-1";
/// moto's account.
pub const ACCOUNT: &str = "123456789012";

pub struct Emulator {
    pub endpoint: String,
    // Holding the child's stdin: the wrapper stops the emulator when this process exits and the pipe closes.
    _guard: Option<Mutex<Child>>,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from the project's virtualenv (`scripts/setup`), else from PATH.
pub fn tool(name: &str) -> PathBuf {
    let local = root().join(".venv/bin").join(name);
    if local.exists() {
        return local;
    }
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.exists()));
    found.unwrap_or_else(|| panic!("{name} not found: run scripts/setup first"))
}

pub fn emulator() -> &'static Emulator {
    EMULATOR.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("PUSHDEPLOY_TEST_ENDPOINT") {
            return Emulator { endpoint, _guard: None };
        }
        start(&[])
    })
}

/// An emulator of one's own (stopped when dropped), started with these environment settings
/// (e.g. `PUSHDEPLOY_EMULATOR_REQUEST_LOG`), for a test that must see only its own requests.
pub fn own_emulator(settings: &[(&str, &str)]) -> Emulator {
    start(settings)
}

fn start(settings: &[(&str, &str)]) -> Emulator {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let python = tool("python");
    let script = root().join("tests/emulator/pushdeploy_emulator.py");
    let log = std::env::temp_dir().join(format!("pushdeploy-emulator-{port}.log"));
    // The shell waits for stdin to close (this process exiting, or the guard dropped), then stops
    // the emulator. The default account starts with the ECS service-linked role, as most accounts
    // have it; tests of a fresh account use an account of their own (`fresh_account`).
    let child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" "$1" -H 127.0.0.1 -p "$2" --ecs-service-linked-role "$3" >"$4" 2>&1 & pid=$!; cat >/dev/null; kill $pid; wait $pid"#)
        .arg(&python)
        .arg(&script)
        .arg(port.to_string())
        .arg(ACCOUNT)
        .arg(&log)
        .envs(settings.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the emulator");
    wait_for_port(port, Duration::from_secs(60), &log);
    Emulator {
        endpoint: format!("http://127.0.0.1:{port}"),
        _guard: Some(Mutex::new(child)),
    }
}

fn wait_for_port(port: u16, limit: Duration, log: &Path) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > limit {
            let mut text = String::new();
            let _ = std::fs::File::open(log).and_then(|mut f| f.read_to_string(&mut text));
            panic!("the emulator did not listen on {port} within {limit:?}; its log:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// SDK config aimed at the emulator with dummy credentials.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&emulator().endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await
}

/// Records the name of every operation a client sends (`ECS.UpdateService`), once per call.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<String>>>);

impl CallLog {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            self.0
                .lock()
                .unwrap()
                .push(format!("{}.{}", meta.service(), meta.name()));
        }
        Ok(())
    }
}

/// Calls the strict emulator's control API (`tests/emulator/pushdeploy_emulator.py`): marks bad
/// images, fails a capacity provider's deletion, publishes a new AMI. Returns the JSON answer.
pub fn control(path: &str, body: serde_json::Value) -> serde_json::Value {
    use std::io::Write;
    let address = emulator().endpoint.trim_start_matches("http://").to_string();
    let body = body.to_string();
    let mut stream = TcpStream::connect(&address).expect("connect to the emulator");
    write!(
        stream,
        "POST /_pushdeploy/{path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, json) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(
        head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
        "{answer}"
    );
    serde_json::from_str(json).expect("JSON")
}

/// SDK config for a fresh account of its own in the shared emulator (no service-linked role,
/// nothing created): the strict emulator maps access key `PDACCT<12 digits>XX` to that account.
pub async fn fresh_account(account: &str) -> SdkConfig {
    assert_eq!(account.len(), 12);
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&emulator().endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            format!("PDACCT{account}XX"),
            "testing",
            None,
            None,
            "tests",
        ))
        .load()
        .await
}

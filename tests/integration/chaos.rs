//! Chaos: three `pushdeploy-lambda` processes behind a Lambda runtime API stand-in, talking to the
//! strict emulator through a fault-injecting proxy (tests/emulator/fault_proxy.py: throttling,
//! 503s, answers lost after the request was applied, latency). Shuffled, duplicated pushes for two
//! services are delivered as Lambda delivers asynchronous events: a failed or unanswered
//! invocation is delivered again, twice, after a pause (Lambda's one and two minutes, scaled down to
//! seconds); processes are SIGKILLed mid-invocation and restarted; then the scheduled sync runs.
//!
//! It holds when no service ever moves to an older image (sampled all along), each ends on its
//! newest image, no image has two ACTIVE revisions, a killed holder's lock lapses with its
//! invocation's deadline, no event uses up its deliveries, and no process dies on its own.
//! `PUSHDEPLOY_CHAOS_SEED=<n>` replays a run; the seed is printed first.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::cli::put_image;
use crate::emulator::{emulator, tool, ACCOUNT, REGION};
use crate::fixture::{container, image, App, REGISTRY};

/// The function's timeout (the template's 60 s, scaled by 1/4): each invocation's deadline. A busy
/// lock is waited for until 5 s before it.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Lambda retries a failed asynchronous invocation after about one and two minutes: scaled as the
/// timeout is, so a killed holder's lease (its deadline + 5 s) ends before the last retry, as in AWS.
const REDELIVERY: [Duration; 2] = [Duration::from_secs(15), Duration::from_secs(30)];
/// Deliveries of one event at most: the first and Lambda's two retries.
const DELIVERIES: u32 = 3;
const PROCESSES: usize = 3;
const IMAGES_PER_SERVICE: usize = 8;
const KILLS: usize = 3;

/// A small seeded generator (xorshift64*): the run is replayable from its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One delivery of an event to a function process.
#[derive(Debug, Clone)]
struct Delivery {
    id: String,
    event: Value,
    /// 1 for the first delivery.
    attempt: u32,
}

/// What happened to one event.
#[derive(Debug, Clone, Default)]
struct Fate {
    deliveries: u32,
    succeeded_at: Option<Instant>,
    exhausted: bool,
    outcomes: Value,
    /// The function's error answers, for a failure's story.
    errors: Vec<String>,
}

/// The runtime API's state, shared by the per-process servers and the test.
#[derive(Default)]
struct Runtime {
    queue: Mutex<VecDeque<Delivery>>,
    ready: Condvar,
    /// Invocation id -> (process, delivery, deadline).
    running: Mutex<HashMap<String, (usize, Delivery, Instant)>>,
    /// Deliveries waiting out Lambda's pause before the next attempt.
    later: Mutex<Vec<(Instant, Delivery)>>,
    fates: Mutex<BTreeMap<String, Fate>>,
}

impl Runtime {
    fn submit(&self, delivery: Delivery) {
        self.fates.lock().unwrap().entry(delivery.id.clone()).or_default();
        self.queue.lock().unwrap().push_back(delivery);
        self.ready.notify_all();
    }

    /// The invocation failed (an error answer, or its process died): Lambda tries again later,
    /// or gives up after the last delivery.
    fn failed(&self, delivery: Delivery) {
        let mut fates = self.fates.lock().unwrap();
        let fate = fates.entry(delivery.id.clone()).or_default();
        if fate.succeeded_at.is_some() {
            return;
        }
        if delivery.attempt >= DELIVERIES {
            fate.exhausted = true;
            return;
        }
        let pause = REDELIVERY[(delivery.attempt - 1) as usize];
        let next = Delivery {
            attempt: delivery.attempt + 1,
            ..delivery
        };
        self.later.lock().unwrap().push((Instant::now() + pause, next));
    }

    /// Moves the deliveries whose pause is over to the queue; fails invocations past their
    /// deadline (Lambda stops them).
    fn tick(&self) {
        let now = Instant::now();
        let due: Vec<Delivery> = {
            let mut later = self.later.lock().unwrap();
            let (due, wait): (Vec<_>, Vec<_>) = later.drain(..).partition(|(at, _)| *at <= now);
            *later = wait;
            due.into_iter().map(|(_, d)| d).collect()
        };
        for d in due {
            self.queue.lock().unwrap().push_back(d);
            self.ready.notify_all();
        }
        let late: Vec<Delivery> = {
            let mut running = self.running.lock().unwrap();
            let ids: Vec<String> = (running.iter())
                .filter(|(_, (_, _, d))| *d <= now)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter()
                .filter_map(|id| running.remove(id))
                .map(|(_, d, _)| d)
                .collect()
        };
        for d in late {
            self.failed(d);
        }
    }

    fn settled(&self) -> bool {
        self.queue.lock().unwrap().is_empty()
            && self.running.lock().unwrap().is_empty()
            && self.later.lock().unwrap().is_empty()
    }

    /// Answers one runtime API request of `process`.
    fn answer(
        &self,
        process: usize,
        method: &str,
        path: &str,
        body: &[u8],
        out: &mut TcpStream,
    ) -> std::io::Result<()> {
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let delivery = self.next();
            let deadline = Instant::now() + TIMEOUT;
            let deadline_ms = (SystemTime::now() + TIMEOUT)
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis();
            self.running
                .lock()
                .unwrap()
                .insert(delivery.id.clone(), (process, delivery.clone(), deadline));
            self.fates
                .lock()
                .unwrap()
                .entry(delivery.id.clone())
                .or_default()
                .deliveries += 1;
            let body = delivery.event.to_string();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {}\r\nLambda-Runtime-Deadline-Ms: {deadline_ms}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:{REGION}:{ACCOUNT}:function:chaos\r\nLambda-Runtime-Trace-Id: Root=1-0-0\r\nContent-Length: {}\r\n\r\n",
                delivery.id,
                body.len()
            );
            out.write_all(head.as_bytes())?;
            return out.write_all(body.as_bytes());
        }
        let id = path
            .split("/invocation/")
            .nth(1)
            .and_then(|p| p.split('/').next())
            .unwrap_or_default();
        let finished = self.running.lock().unwrap().remove(id);
        if let Some((_, delivery, _)) = finished {
            if path.ends_with("/response") {
                let mut fates = self.fates.lock().unwrap();
                let fate = fates.entry(delivery.id.clone()).or_default();
                fate.succeeded_at.get_or_insert(Instant::now());
                fate.outcomes = serde_json::from_slice(body).unwrap_or(Value::Null);
            } else {
                let answer = String::from_utf8_lossy(body).to_string();
                self.fates
                    .lock()
                    .unwrap()
                    .entry(delivery.id.clone())
                    .or_default()
                    .errors
                    .push(answer);
                self.failed(delivery);
            }
        }
        out.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
    }

    /// The next delivery, waiting for one.
    fn next(&self) -> Delivery {
        let mut queue = self.queue.lock().unwrap();
        loop {
            if let Some(d) = queue.pop_front() {
                return d;
            }
            queue = self.ready.wait_timeout(queue, Duration::from_millis(200)).unwrap().0;
        }
    }
}

/// Serves process `process`'s runtime API on `listener`, a thread per connection.
fn serve(runtime: Arc<Runtime>, process: usize, listener: TcpListener) {
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let runtime = runtime.clone();
            std::thread::spawn(move || {
                let _ = connection(&runtime, process, stream);
            });
        }
    });
}

fn connection(runtime: &Runtime, process: usize, stream: TcpStream) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
        );
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        runtime.answer(process, &method, &path, &body, &mut out)?;
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A function process on runtime API `port`, its AWS calls through the proxy.
fn function(port: u16, proxy: u16, app: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pushdeploy-lambda"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "chaos")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{proxy}"))
        .env("PUSHDEPLOY_APP", app)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pushdeploy-lambda")
}

/// The proxy's counts of requests and faults.
fn proxy_stats(port: u16) -> Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET /_proxy/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    serde_json::from_str(answer.split_once("\r\n\r\n").map_or("{}", |(_, b)| b)).unwrap_or(Value::Null)
}

/// A push event as EventBridge delivers it, at ECR's push time.
fn push_event(repository: &str, tag: &str, digest: &str, at: &str) -> Value {
    json!({"version": "0", "id": format!("push-{tag}-{}", &digest[7..15]), "detail-type": "ECR Image Action",
        "source": "aws.ecr", "account": ACCOUNT, "time": at, "region": REGION,
        "resources": [format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repository}")],
        "detail": {"action-type": "PUSH", "result": "SUCCESS", "repository-name": repository, "image-digest": digest,
                   "image-tag": tag, "manifest-media-type": "application/vnd.docker.distribution.manifest.v2+json",
                   "artifact-media-type": "application/vnd.docker.container.image.v1+json"}})
}

/// Each repository's images, oldest first, as both the push path and the sync order them:
/// ECR's push time, then the digest.
async fn pushed_in_order(app: &App, repository: &str) -> Vec<(String, String, String)> {
    let out = aws_sdk_ecr::Client::new(&app.sdk)
        .describe_images()
        .repository_name(repository)
        .send()
        .await
        .unwrap();
    let mut images: Vec<(i64, String, String)> = (out.image_details().iter())
        .map(|d| {
            (
                d.image_pushed_at().unwrap().secs(),
                d.image_digest().unwrap().to_string(),
                d.image_tags()[0].clone(),
            )
        })
        .collect();
    images.sort();
    (images.into_iter())
        .map(|(at, digest, tag)| {
            let at = chrono::DateTime::<chrono::Utc>::from_timestamp(at, 0).unwrap();
            (digest, tag, at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        })
        .collect()
}

/// The rank of the image service `name` runs among its repository's pushes (-1: the first one).
async fn rank(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    name: &str,
    order: &[(String, String, String)],
    cache: &mut HashMap<String, i64>,
) -> i64 {
    let described = ecs
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .unwrap();
    let arn = described.services()[0].task_definition().unwrap().to_string();
    if let Some(r) = cache.get(&arn) {
        return *r;
    }
    let td = ecs
        .describe_task_definition()
        .task_definition(&arn)
        .send()
        .await
        .unwrap();
    let images: Vec<String> = (td.task_definition().unwrap().container_definitions().iter())
        .filter_map(|c| c.image().map(str::to_string))
        .collect();
    let r = (order.iter())
        .position(|(digest, _, _)| images.iter().any(|i| i.ends_with(digest.as_str())))
        .map_or(-1, |p| p as i64);
    cache.insert(arn, r);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_functions_under_faults_kills_and_redeliveries_end_on_the_newest_images_without_duplicates() {
    let seed = std::env::var("PUSHDEPLOY_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    eprintln!("chaos seed {seed} (PUSHDEPLOY_CHAOS_SEED={seed} replays it)");
    let mut random = Random(seed);
    let started = Instant::now();

    let app = App::new("chaos").await;
    let services = ["web", "api"];
    let mut order = BTreeMap::new();
    for name in services {
        let repository = format!("{}/{name}", app.name);
        for i in 0..IMAGES_PER_SERVICE {
            put_image(&app, &repository, &format!("v{i}"), &format!("{name}{i}c4a05")).await;
        }
        app.service(name, vec![container(name, &image(&repository, "v0"))])
            .await;
        order.insert(name, pushed_in_order(&app, &repository).await);
    }
    app.config(json!(services
        .iter()
        .map(|s| app.route(s, &format!("{}/{s}", app.name)))
        .collect::<Vec<_>>()))
        .await;

    // 2 services x 8 pushes, each delivered twice (EventBridge's at-least-once), shuffled.
    let mut events = Vec::new();
    for name in services {
        for (digest, tag, at) in &order[name] {
            let event = push_event(&format!("{}/{name}", app.name), tag, digest, at);
            for copy in 0..2 {
                events.push((format!("{name}-{tag}-{copy}"), event.clone()));
            }
        }
    }
    for i in (1..events.len()).rev() {
        events.swap(i, random.below(i + 1));
    }

    let proxy_port = free_port();
    let proxy = Command::new(tool("python"))
        .arg(crate::emulator::root().join("tests/emulator/fault_proxy.py"))
        .args([
            "--port",
            &proxy_port.to_string(),
            "--upstream",
            &emulator().endpoint,
            "--seed",
            &seed.to_string(),
        ])
        .args([
            "--throttle",
            "0.2",
            "--unavailable",
            "0.05",
            "--lost",
            "0.03",
            "--latency-ms",
            "30",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the fault proxy");
    let _proxy = Guard(proxy);
    wait_for(proxy_port);

    let runtime = Arc::new(Runtime::default());
    let ports: Vec<u16> = (0..PROCESSES)
        .map(|p| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            serve(runtime.clone(), p, listener);
            port
        })
        .collect();
    let mut processes: Vec<Child> = ports
        .iter()
        .map(|port| function(*port, proxy_port, &app.name))
        .collect();

    // Sample what each service runs all along: the rank never goes down.
    let sampling = Arc::new(Mutex::new(true));
    let sampler = {
        let (ecs, cluster, sampling, order) = (app.ecs.clone(), app.cluster.clone(), sampling.clone(), order.clone());
        tokio::spawn(async move {
            let mut seen: BTreeMap<&str, i64> = BTreeMap::new();
            let mut cache = HashMap::new();
            let mut samples = 0;
            while *sampling.lock().unwrap() {
                for s in ["web", "api"] {
                    let r = rank(&ecs, &cluster, s, &order[s], &mut cache).await;
                    let before = seen.insert(s, r).unwrap_or(-1);
                    assert!(r >= before, "service {s} moved from image {before} to the older {r}");
                }
                samples += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples
        })
    };

    // Deliver the pushes, killing three processes that are mid-invocation on the way.
    let mut kills = Vec::new();
    let mut queued = events.into_iter();
    let mut next_kill = Instant::now() + Duration::from_millis(800 + random.below(700) as u64);
    loop {
        runtime.tick();
        if let Some((id, event)) = queued.next() {
            runtime.submit(Delivery { id, event, attempt: 1 });
            tokio::time::sleep(Duration::from_millis(60 + random.below(120) as u64)).await;
        } else if runtime.settled() && kills.len() >= KILLS {
            break;
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if kills.len() < KILLS && Instant::now() >= next_kill {
            if let Some(kill) = kill_one(&runtime, &mut processes, &ports, proxy_port, &app, &mut random).await {
                kills.push(kill);
                next_kill = Instant::now() + Duration::from_millis(1500 + random.below(1500) as u64);
            }
        }
        for (p, child) in processes.iter_mut().enumerate() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "function process {p} died on its own"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the run did not settle in 240 s (seed {seed})"
        );
    }

    // The scheduled sync, through the same runtime, faults and retries included.
    let schedule = json!({"version": "0", "id": "tick", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": "2026-11-30T12:00:00Z", "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/chaos-sync")], "detail": {}});
    runtime.submit(Delivery {
        id: "sync".into(),
        event: schedule,
        attempt: 1,
    });
    while !runtime.settled() {
        runtime.tick();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the sync did not settle (seed {seed})"
        );
    }
    *sampling.lock().unwrap() = false;
    let samples = sampler.await.expect("no service moved to an older image");
    for child in processes.iter_mut() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "a function process died on its own"
        );
        let _ = child.kill();
    }

    let fates = runtime.fates.lock().unwrap().clone();
    let exhausted: Vec<&String> = fates.iter().filter(|(_, f)| f.exhausted).map(|(id, _)| id).collect();
    let deliveries: u32 = fates.values().map(|f| f.deliveries).sum();
    let stats = proxy_stats(proxy_port);
    eprintln!(
        "chaos seed {seed}: {} events, {deliveries} deliveries ({} redeliveries), {} exhausted, faults {stats}, {samples} samples, {:.1} s",
        fates.len(),
        deliveries - fates.len() as u32,
        exhausted.len(),
        started.elapsed().as_secs_f64()
    );
    for kill in &kills {
        // The next success of an event of the same service: how long the kill held it up.
        let service = kill.invocation.split('-').next().unwrap_or_default();
        let recovered = (fates.iter())
            .filter(|(id, _)| id.starts_with(&format!("{service}-")))
            .filter_map(|(_, f)| f.succeeded_at)
            .filter(|at| *at > kill.at)
            .min()
            .map(|at| at - kill.at);
        eprintln!(
            "killed process {} mid-invocation {}: its lock lapses {:.1} s after the kill (deadline + 5 s); the service's next event succeeded {:.1} s after it",
            kill.process,
            kill.invocation,
            kill.lock_lapses_in.as_secs_f64(),
            recovered.map_or(f64::NAN, |d| d.as_secs_f64())
        );
        assert!(
            kill.lock_lapses_in <= TIMEOUT + Duration::from_secs(6),
            "a killed holder blocks its service for at most the rest of its deadline and the margin"
        );
    }
    assert_eq!(kills.len(), KILLS, "three processes were killed mid-invocation");
    let stories: Vec<String> = (exhausted.iter())
        .map(|id| format!("{id}: {:?}", fates[*id].errors))
        .collect();
    assert!(
        exhausted.is_empty(),
        "events that used up their deliveries: {stories:#?} (seed {seed})"
    );
    assert!(
        fates["sync"].succeeded_at.is_some(),
        "the scheduled sync succeeded (seed {seed})"
    );

    for name in services {
        let newest = &order[name].last().unwrap().0;
        let running = app.running_images(name).await;
        assert!(
            running
                .iter()
                .any(|(_, image)| *image == format!("{REGISTRY}/{}/{name}@{newest}", app.name)),
            "{name} ends on its newest image {newest}: runs {running:?} (seed {seed})"
        );
        let mut per_image: BTreeMap<String, usize> = BTreeMap::new();
        for arn in app.revisions(name).await {
            let (td, _) = app.task_definition(&arn).await;
            let image = td.container_definitions()[0].image().unwrap_or_default().to_string();
            *per_image.entry(image).or_default() += 1;
        }
        let twice: Vec<_> = per_image.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "{name}: images with two ACTIVE revisions: {twice:?} (seed {seed})"
        );
    }
}

/// A process killed mid-invocation.
struct Kill {
    at: Instant,
    process: usize,
    invocation: String,
    /// How long after the kill the lock it held lapses (its lease's end), as the table says.
    lock_lapses_in: Duration,
}

/// SIGKILLs a process that is running an invocation (Lambda sees it exit: the invocation failed),
/// reads the lock it held, and starts a fresh process on the same runtime API.
async fn kill_one(
    runtime: &Runtime,
    processes: &mut [Child],
    ports: &[u16],
    proxy: u16,
    app: &App,
    random: &mut Random,
) -> Option<Kill> {
    let busy: Vec<(String, usize, Delivery)> = {
        let running = runtime.running.lock().unwrap();
        running
            .iter()
            .map(|(id, (p, d, _))| (id.clone(), *p, d.clone()))
            .collect()
    };
    let (invocation, process, delivery) = busy.get(random.below(busy.len().max(1)))?.clone();
    processes[process].kill().unwrap();
    processes[process].wait().unwrap();
    let at = Instant::now();
    runtime.running.lock().unwrap().remove(&invocation);
    runtime.failed(delivery.clone());
    // The lock of the service this invocation was deploying, if it held it.
    let repository = delivery.event["detail"]["repository-name"].as_str().unwrap_or_default();
    let service = repository.rsplit('/').next().unwrap_or_default();
    let item = aws_sdk_dynamodb::Client::new(&app.sdk)
        .get_item()
        .table_name(pushdeploy::lock::table_name(&app.name))
        .key(
            pushdeploy::lock::KEY,
            aws_sdk_dynamodb::types::AttributeValue::S(format!("{}/{service}", app.cluster)),
        )
        .send()
        .await
        .unwrap()
        .item;
    let expires: Option<u128> = item.and_then(|i| i.get("expires_ms")?.as_n().ok()?.parse().ok());
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    let lock_lapses_in = Duration::from_millis(expires.map_or(0, |e| e.saturating_sub(now_ms)) as u64);
    tokio::time::sleep(Duration::from_millis(300)).await;
    processes[process] = function(ports[process], proxy, &app.name);
    Some(Kill {
        at,
        process,
        invocation,
        lock_lapses_in,
    })
}

/// Kills the child when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

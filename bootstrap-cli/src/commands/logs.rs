//! `pushdeploy logs`: what a service's containers printed, from its log group
//! (`/pushdeploy/<app>/<service>`), oldest first and interleaved across its tasks. Each line
//! gives the time, the container and the task (from the `awslogs` stream name
//! `<service>/<container>/<task id>`), then the message. `--output json` prints one JSON object
//! per line, so `--follow` can stream.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::app_file::App;
use crate::cli::{GlobalArgs, LogsArgs, OutputFormat};
use crate::context::Context;
use crate::error::{aws, CliError};

/// One line a container logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// When it was logged.
    pub time: DateTime<Utc>,
    /// The container.
    pub container: String,
    /// The task's id.
    pub task: String,
    /// What it printed.
    pub message: String,
    #[serde(skip)]
    id: String,
}

impl Line {
    fn from_event(event: &FilteredLogEvent) -> Option<Line> {
        let time = DateTime::from_timestamp_millis(event.timestamp()?)?;
        let stream = event.log_stream_name().unwrap_or_default();
        // awslogs names streams `<prefix>/<container>/<task id>`.
        let mut parts = stream.rsplitn(3, '/');
        let (task, container) = match (parts.next(), parts.next(), parts.next()) {
            (Some(task), Some(container), Some(_)) => (task.to_string(), container.to_string()),
            _ => (stream.to_string(), String::new()),
        };
        Some(Line {
            time,
            container,
            task,
            message: event
                .message()
                .unwrap_or_default()
                .trim_end_matches(['\r', '\n'])
                .to_string(),
            id: event.event_id().unwrap_or_default().to_string(),
        })
    }

    fn text(&self) -> String {
        let task: String = self.task.chars().take(8).collect();
        let source = if self.container.is_empty() {
            task
        } else {
            format!("{}/{task}", self.container)
        };
        format!(
            "{} {source} {}",
            self.time.to_rfc3339_opts(SecondsFormat::Millis, true),
            self.message
        )
    }
}

/// `--since`: a duration before `now` (`30s`, `10m`, `2h`, `1d`) or an RFC 3339 time.
pub fn since(given: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, CliError> {
    let bad = || CliError::BadSince {
        given: given.to_string(),
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(given) {
        return Ok(at.with_timezone(&Utc));
    }
    let split = given.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = given.split_at(split);
    let n: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    chrono::TimeDelta::try_seconds(seconds)
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(bad)
}

/// FilterLogEvents' quota is 5 requests per second per account and Region: one call every 250 ms
/// leaves room for another reader.
const PACE: Duration = Duration::from_millis(250);
/// How far back each look of `--follow` reaches before the newest line seen: CloudWatch Logs
/// takes an event with an older timestamp after newer ones (another task's stream flushing late),
/// and the ids of lines already printed keep the overlap from printing twice.
const OVERLAP_MS: i64 = 60_000;
/// Throttled looks waited out before giving up, beyond the SDK's own retries.
const THROTTLED_TRIES: u32 = 5;

/// Reads a log group, paced under the quota, printing each page as it arrives.
struct Reader<'a> {
    ctx: &'a Context,
    group: String,
    last_call: Option<tokio::time::Instant>,
}

impl Reader<'_> {
    /// Waits until the next call keeps to [`PACE`].
    async fn pace(&mut self) {
        if let Some(last) = self.last_call {
            tokio::time::sleep_until(last + PACE).await;
        }
        self.last_call = Some(tokio::time::Instant::now());
    }

    /// Every event from `start` (ms), page by page, each page handed to `page` as it arrives
    /// (oldest first: CloudWatch Logs sorts the events of a filter by time across streams).
    ///
    /// IAM: `logs:FilterLogEvents` on the service's log group.
    async fn read(
        &mut self,
        start: i64,
        mut page: impl FnMut(Vec<Line>) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        let mut token = None;
        loop {
            let mut throttled = 0;
            let out = loop {
                self.pace().await;
                let sent = (self.ctx.logs().filter_log_events().log_group_name(&self.group))
                    .start_time(start)
                    .set_next_token(token.clone())
                    .send()
                    .await;
                match sent {
                    Ok(out) => break out,
                    Err(e) => {
                        let e = aws("logs:FilterLogEvents", e);
                        throttled += 1;
                        if !e.is_throttling() || throttled >= THROTTLED_TRIES {
                            return Err(e);
                        }
                        tokio::time::sleep(PACE * 2u32.pow(throttled)).await;
                    }
                }
            };
            page(out.events().iter().filter_map(Line::from_event).collect())?;
            token = out.next_token;
            if token.is_none() {
                return Ok(());
            }
        }
    }
}

/// What `--follow` has printed: the lines of the overlap window, by id, and where the next look
/// starts.
#[derive(Debug)]
pub struct Follower {
    /// The next look's start, ms.
    pub start: i64,
    seen: std::collections::BTreeMap<String, i64>,
}

impl Follower {
    /// Following from `start` (ms).
    pub fn new(start: i64) -> Follower {
        Follower {
            start,
            seen: Default::default(),
        }
    }

    /// Of `lines`, those not printed yet; remembers them, and moves the next look to
    /// [`OVERLAP_MS`] before the newest line seen (never back).
    pub fn fresh(&mut self, lines: Vec<Line>) -> Vec<Line> {
        let fresh: Vec<Line> = (lines.into_iter()).filter(|l| !self.seen.contains_key(&l.id)).collect();
        for l in &fresh {
            self.seen.insert(l.id.clone(), l.time.timestamp_millis());
        }
        let newest = self.seen.values().max().copied().unwrap_or(self.start);
        self.start = self.start.max(newest - OVERLAP_MS);
        let start = self.start;
        self.seen.retain(|_, at| *at >= start);
        fresh
    }
}

fn print(out: &mut impl Write, format: OutputFormat, lines: &[Line]) -> Result<(), CliError> {
    for line in lines {
        match format {
            OutputFormat::Text => writeln!(out, "{}", line.text())?,
            OutputFormat::Json => {
                serde_json::to_writer(&mut *out, line).map_err(std::io::Error::from)?;
                writeln!(out)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Runs the command.
///
/// IAM: `logs:DescribeLogGroups` (the group exists), `logs:FilterLogEvents` on
/// `arn:aws:logs:<region>:<account>:log-group:/pushdeploy/<app>/*`.
pub async fn run(args: LogsArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    let app = App::load(args.app.file.as_deref(), args.app.app.as_deref())?;
    app.service(&args.service)?;
    let start = since(&args.since, Utc::now())?.timestamp_millis().max(0);
    let ctx = Context::connect(global, app.file.region.as_deref()).await?;
    ctx.announce(&app).await?;
    let group = app.names.log_group(&args.service);
    if crate::resources::log_group::find(&ctx, &group).await?.is_none() {
        return Err(CliError::NotCreated {
            what: format!("log group {group}"),
        });
    }
    let mut out = std::io::stdout().lock();
    let mut reader = Reader {
        ctx: &ctx,
        group,
        last_call: None,
    };
    let mut follower = Follower::new(start);
    let (mut shown, mut said_none) = (0, false);
    loop {
        let from = follower.start;
        reader
            .read(from, |lines| {
                let fresh = follower.fresh(lines);
                shown += fresh.len();
                print(&mut out, ctx.output, &fresh)
            })
            .await?;
        if shown == 0 && !said_none && ctx.output == OutputFormat::Text {
            // Said on stderr, once: stdout holds only log lines.
            let more = if args.follow {
                "; waiting for new ones (Ctrl-C stops)"
            } else {
                "; `--since 1d` looks further back"
            };
            eprintln!("no log lines in {} (--since {}){more}", reader.group, args.since);
            said_none = true;
        }
        if !args.follow {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(Duration::from_secs(args.every)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times_and_refuses_the_rest() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |s: &str| since(s, now).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
        assert_eq!(at("30s").unwrap(), "2026-11-27T09:59:30Z");
        assert_eq!(at("10m").unwrap(), "2026-11-27T09:50:00Z");
        assert_eq!(at("2h").unwrap(), "2026-11-27T08:00:00Z");
        assert_eq!(at("1d").unwrap(), "2026-11-26T10:00:00Z");
        assert_eq!(at("2026-11-27T09:00:00+01:00").unwrap(), "2026-11-27T08:00:00Z");
        for bad in ["", "m", "10", "10 m", "10w", "-5m", "99999999999999999d", "yesterday"] {
            assert!(matches!(since(bad, now), Err(CliError::BadSince { .. })), "{bad:?}");
        }
    }

    #[test]
    fn a_line_names_its_container_and_task_from_the_awslogs_stream() {
        let event = FilteredLogEvent::builder()
            .log_stream_name("web/web/0123456789abcdef0123456789abcdef")
            .timestamp(1_795_000_000_123)
            .message("listening on :80\n")
            .event_id("e1")
            .build();
        let line = Line::from_event(&event).unwrap();
        assert_eq!(
            (line.container.as_str(), line.task.as_str()),
            ("web", "0123456789abcdef0123456789abcdef")
        );
        assert_eq!(line.text(), "2026-11-18T11:06:40.123Z web/01234567 listening on :80");
        let odd = FilteredLogEvent::builder()
            .log_stream_name("by-hand")
            .timestamp(0)
            .message("x")
            .build();
        assert_eq!(
            Line::from_event(&odd).unwrap().text(),
            "1970-01-01T00:00:00.000Z by-hand x"
        );
        assert!(Line::from_event(&FilteredLogEvent::builder().message("no time").build()).is_none());
    }

    fn line(at: i64, stream: &str, id: &str) -> Line {
        Line {
            time: DateTime::from_timestamp_millis(at).unwrap(),
            container: "web".into(),
            task: stream.into(),
            message: format!("{id} on {stream}"),
            id: id.into(),
        }
    }

    #[test]
    fn follow_prints_a_line_that_arrives_late_on_another_stream_once_and_nothing_twice() {
        let mut f = Follower::new(0);
        let first = f.fresh(vec![line(10_000, "a", "1"), line(20_000, "b", "2")]);
        assert_eq!(first.len(), 2);
        assert!(
            f.start <= 10_000,
            "the next look reaches back before the newest line: {}",
            f.start
        );
        // Stream a flushes a line stamped 15 s after stream b's 20 s line was printed.
        let second = f.fresh(vec![
            line(10_000, "a", "1"),
            line(15_000, "a", "3"),
            line(20_000, "b", "2"),
        ]);
        assert_eq!(
            second.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
            ["3"],
            "the late line, once"
        );
        let later = f.fresh(vec![line(200_000, "b", "4")]);
        assert_eq!(later.len(), 1);
        assert_eq!(f.start, 200_000 - OVERLAP_MS, "the window moves on");
    }

    #[tokio::test(start_paused = true)]
    async fn looks_are_paced_under_the_filter_log_events_quota() {
        let ctx = Context::new(
            aws_config::SdkConfig::builder()
                .region(aws_config::Region::new("eu-west-1"))
                .build(),
            OutputFormat::Text,
        );
        let mut reader = Reader {
            ctx: &ctx,
            group: "g".into(),
            last_call: None,
        };
        let started = tokio::time::Instant::now();
        for _ in 0..5 {
            reader.pace().await;
        }
        assert!(started.elapsed() >= PACE * 4, "five calls take a second at least");
    }
}

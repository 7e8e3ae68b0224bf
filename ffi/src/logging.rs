//! The library's log lines, forwarded to the app's [`LogSink`] (logcat on Android, OSLog on
//! iOS).
//!
//! Core logs with `tracing`. A process has one global `tracing` subscriber and it can be set
//! only once, so the first [`set_log_sink`] installs [`Forwarder`], a minimal subscriber
//! that passes each event to whatever sink is current; later calls only swap the sink and
//! its level behind a lock. Only events of fieldcase's own crates are forwarded: their
//! messages hold record ids, counts and our words, never a party's personal data or a key.
//! Dependencies' events (HTTP, TLS) are not forwarded.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, RwLock};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata};

/// How severe a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, uniffi::Enum)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something unexpected the library handled (a file left pending, a key refused).
    Warn,
    /// What a sync did, in counts.
    Info,
    /// Detail for a developer.
    Debug,
    /// More detail still.
    Trace,
}

impl From<&tracing::Level> for LogLevel {
    fn from(l: &tracing::Level) -> Self {
        match *l {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::DEBUG => LogLevel::Debug,
            _ => LogLevel::Trace,
        }
    }
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogRecord {
    /// Its severity.
    pub level: LogLevel,
    /// The module that logged it (`fieldcase_core::sync::machine`, ...): a logcat tag or an
    /// OSLog category.
    pub target: String,
    /// The message and its fields (`sync finished round_trips=3 pushed=1 ...`).
    pub message: String,
}

/// Where the app wants the library's log lines. Called on whatever thread logged (often a
/// library thread); keep it quick and do not call the library from it.
#[uniffi::export(foreign)]
pub trait LogSink: Send + Sync {
    /// One line at or above the level given to `set_log_sink`.
    fn log(&self, record: LogRecord);
}

/// The sink lines go to, and the least severe level it takes.
type Current = Option<(Arc<dyn LogSink>, LogLevel)>;

static CURRENT: RwLock<Current> = RwLock::new(None);
static INSTALL: Once = Once::new();

/// Sends the library's log lines at `level` and above to `sink`, replacing any sink set
/// before; `None` stops forwarding. Lines from before the first call are not kept. If the
/// process already has a global `tracing` subscriber of its own (a Rust host), that one
/// keeps the lines and the sink hears nothing.
#[uniffi::export]
pub fn set_log_sink(sink: Option<Arc<dyn LogSink>>, level: LogLevel) {
    let current = sink.map(|s| (s, level));
    match CURRENT.write() {
        Ok(mut c) => *c = current,
        Err(p) => *p.into_inner() = current,
    }
    INSTALL.call_once(|| {
        // Fails only when the host installed its own subscriber first; see above.
        let _ = tracing::subscriber::set_global_default(Forwarder::default());
    });
}

/// The current sink if it takes lines of `level`.
fn sink_for(level: LogLevel) -> Option<Arc<dyn LogSink>> {
    let current = match CURRENT.read() {
        Ok(c) => c.clone(),
        Err(p) => p.into_inner().clone(),
    };
    current.and_then(|(sink, max)| (level <= max).then_some(sink))
}

/// Whether a callsite belongs to fieldcase's own crates.
fn ours(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("fieldcase")
}

/// The global subscriber: events of our crates go to the current sink; spans are not kept
/// (core opens none, and a dependency's are of no use to the sink).
#[derive(Debug, Default)]
struct Forwarder {
    next_span: AtomicU64,
}

impl tracing::Subscriber for Forwarder {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        // Ours are asked each time (the sink and level change at run time); the rest never.
        if ours(meta) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        ours(meta) && sink_for(meta.level().into()).is_some()
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(
            self.next_span
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1),
        )
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let level = LogLevel::from(meta.level());
        let Some(sink) = sink_for(level) else {
            return;
        };
        let mut line = Line::default();
        event.record(&mut line);
        let record = LogRecord {
            level,
            target: meta.target().to_string(),
            message: line.finish(),
        };
        // A sink that throws loses its line, never the library's work.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sink.log(record)));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// An event's message followed by its fields as `name=value`.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Line {
    fn finish(self) -> String {
        let mut out = self.message;
        if !self.fields.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&self.fields);
        }
        out
    }
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Keep(Mutex<Vec<LogRecord>>);

    impl LogSink for Keep {
        fn log(&self, record: LogRecord) {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(record);
        }
    }

    #[test]
    fn lines_at_the_level_reach_the_current_sink_and_none_below() {
        let first = Arc::new(Keep::default());
        set_log_sink(Some(first.clone()), LogLevel::Info);
        tracing::info!(target: "fieldcase_ffi::test", round_trips = 3, "sync finished");
        tracing::debug!(target: "fieldcase_ffi::test", "too detailed");
        tracing::warn!(target: "hyper::proto", "not ours");
        let got = first.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(
            got,
            vec![LogRecord {
                level: LogLevel::Info,
                target: "fieldcase_ffi::test".into(),
                message: "sync finished round_trips=3".into(),
            }]
        );

        // Swapped: the new sink hears the next line, the old one nothing more.
        let second = Arc::new(Keep::default());
        set_log_sink(Some(second.clone()), LogLevel::Debug);
        tracing::debug!(target: "fieldcase_ffi::test", "now wanted");
        set_log_sink(None, LogLevel::Trace);
        tracing::error!(target: "fieldcase_ffi::test", "nobody listens");
        assert_eq!(first.0.lock().unwrap_or_else(|p| p.into_inner()).len(), 1);
        let got = second.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message, "now wanted");
        assert_eq!(got[0].level, LogLevel::Debug);
    }
}

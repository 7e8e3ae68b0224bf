//! Sync over a slow link: one phone pushes 1,000 new records and a second phone of the same
//! squad pulls them, both through a link of 100 ms round trip and 2 Mbit/s each way
//! ([`fieldcase_tests::link`]). The floor is what the bytes that crossed and the round trips
//! made cost at least on that link: bytes over the rate plus one round trip per exchange. The
//! ratio says how much time goes to anything else (server and phone work, idle gaps).

use crate::{BenchError, Result, T0, be, cache_root, print_line, runtime};
use fieldcase_server::storage::Role;
use fieldcase_tests::harness::{Phone, TestServer};
use fieldcase_tests::link::{Link, Shape};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const RECORDS: i64 = 1000;
const SHAPE: Shape = Shape {
    delay: Duration::from_millis(50),
    rate_bps: 2_000_000,
};

/// What one direction cost on the link.
struct Leg {
    ms: f64,
    floor_ms: f64,
    up: u64,
    down: u64,
    exchanges: u64,
}

fn leg(link: &Link, took: Duration, before: (u64, u64, u64), floor_before: Duration) -> Leg {
    let s = &link.stats;
    Leg {
        ms: took.as_secs_f64() * 1e3,
        floor_ms: (link.floor().saturating_sub(floor_before)).as_secs_f64() * 1e3,
        up: s.up.load(Ordering::Relaxed) - before.0,
        down: s.down.load(Ordering::Relaxed) - before.1,
        exchanges: s.exchanges.load(Ordering::Relaxed) - before.2,
    }
}

fn snapshot(link: &Link) -> ((u64, u64, u64), Duration) {
    let s = &link.stats;
    (
        (
            s.up.load(Ordering::Relaxed),
            s.down.load(Ordering::Relaxed),
            s.exchanges.load(Ordering::Relaxed),
        ),
        link.floor(),
    )
}

/// 1,000 records up and down over 100 ms round trip at 2 Mbit/s.
pub fn slow_network_1000_records(_quick: bool) -> Result<()> {
    std::fs::create_dir_all(cache_root())?;
    let dir = tempfile::Builder::new()
        .prefix("slow-link-")
        .tempdir_in(cache_root())?;
    runtime()?.block_on(async {
        let s = TestServer::start(&dir.path().join("server")).await.map_err(be)?;
        let link = Link::start(s.server.addr, SHAPE).await?;
        let url = format!("http://{}", link.addr);
        let unit = "luan/jinan/squad-1";
        let a = Phone::enrol(&s, &url, dir.path(), "OF-A", Role::Officer, unit)
            .await
            .map_err(be)?;
        let b = Phone::enrol(&s, &url, dir.path(), "OF-B", Role::Officer, unit)
            .await
            .map_err(be)?;
        // First sessions learn keys, catalogue and roster: not part of what is measured.
        a.sync().await?;
        b.sync().await?;
        for i in 0..RECORDS {
            a.case(None, T0 + i).map_err(be)?;
        }
        let (before, floor_before) = snapshot(&link);
        let t = Instant::now();
        let r = a.sync().await?;
        let up = leg(&link, t.elapsed(), before, floor_before);
        if r.accepted != RECORDS as u32 || !r.complete {
            return Err(BenchError(format!("pushed {} of {RECORDS}", r.accepted)));
        }
        let (before, floor_before) = snapshot(&link);
        let t = Instant::now();
        let r = b.sync().await?;
        let down = leg(&link, t.elapsed(), before, floor_before);
        if r.received < RECORDS as u32 || !r.complete {
            return Err(BenchError(format!("pulled {} of {RECORDS}", r.received)));
        }
        for (name, l) in [("up", &up), ("down", &down)] {
            eprintln!(
                "slow_network_1000_records {name}: {:.0} ms; {} round trips, {} B up, {} B down; floor {:.0} ms",
                l.ms, l.exchanges, l.up, l.down, l.floor_ms
            );
            print_line(
                &format!("slow_network_1000_records_{name}"),
                l.ms,
                l.floor_ms,
                "floor",
                "ms",
            );
        }
        drop(a);
        drop(b);
        s.server.kill().await?;
        Ok(())
    })
}

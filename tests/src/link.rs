//! A slow link for benchmarks: a TCP proxy on 127.0.0.1 that gives each direction a rate
//! and a one-way delay, the model of `tc netem delay D rate R` (this machine's kernel has no
//! `sch_netem`, so the link is emulated in user space: each chunk leaves when the link is
//! free and its bytes have been clocked out at the rate, and arrives the delay later).
//!
//! It also counts exchanges: on a kept-alive HTTP/1.1 connection every request starts after
//! the previous reply, so each turn from "server to client" back to "client to server" is one
//! more round trip.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// A link's shape.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// One-way delay (half the round trip).
    pub delay: Duration,
    /// Bits per second, each direction.
    pub rate_bps: u64,
}

/// What crossed the link.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Bytes client to server.
    pub up: AtomicU64,
    /// Bytes server to client.
    pub down: AtomicU64,
    /// Requests that followed a reply, or opened a connection (round trips).
    pub exchanges: AtomicU64,
}

/// A running link.
#[derive(Debug, Clone)]
pub struct Link {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// What crossed it so far.
    pub stats: Arc<LinkStats>,
    /// Its shape.
    pub shape: Shape,
}

/// Largest chunk clocked out at once (a few milliseconds at 2 Mbit/s).
const CHUNK: usize = 1460;
/// No read waits longer than this (the benchmark ends every connection well before).
const IO_TIMEOUT: Duration = Duration::from_secs(300);

impl Link {
    /// Starts a link in front of `target`.
    pub async fn start(target: SocketAddr, shape: Shape) -> std::io::Result<Link> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let link = Link {
            addr: listener.local_addr()?,
            stats: Arc::new(LinkStats::default()),
            shape,
        };
        let l = link.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let l = l.clone();
                tokio::spawn(async move {
                    let _ = l.handle(conn, target).await;
                });
            }
        });
        Ok(link)
    }

    /// The time the bytes that crossed and the round trips made need at least: bytes over
    /// the rate plus one round trip per exchange.
    pub fn floor(&self) -> Duration {
        let bytes = self.stats.up.load(Ordering::Relaxed) + self.stats.down.load(Ordering::Relaxed);
        let exchanges = self.stats.exchanges.load(Ordering::Relaxed);
        Duration::from_secs_f64(bytes as f64 * 8.0 / self.shape.rate_bps as f64)
            + self.shape.delay * 2 * u32::try_from(exchanges).unwrap_or(u32::MAX)
    }

    async fn handle(&self, client: TcpStream, target: SocketAddr) -> std::io::Result<()> {
        client.set_nodelay(true)?;
        let upstream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(target)).await??;
        upstream.set_nodelay(true)?;
        let (cr, cw) = client.into_split();
        let (ur, uw) = upstream.into_split();
        // Whether the last bytes on this connection went down (a reply): the next bytes up
        // start a new exchange. A new connection starts with one.
        let turned = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let up = tokio::spawn(pipe(
            cr,
            uw,
            self.shape,
            self.stats.clone(),
            Dir::Up,
            turned.clone(),
        ));
        let down = tokio::spawn(pipe(
            ur,
            cw,
            self.shape,
            self.stats.clone(),
            Dir::Down,
            turned,
        ));
        let _ = up.await;
        let _ = down.await;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Up,
    Down,
}

/// Carries one direction: reads chunks, clocks each out at the rate after the previous one,
/// and delivers it the delay later, in order.
async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    shape: Shape,
    stats: Arc<LinkStats>,
    dir: Dir,
    turned: Arc<std::sync::atomic::AtomicBool>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut free = Instant::now();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match tokio::time::timeout(IO_TIMEOUT, from.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => break,
        };
        match dir {
            Dir::Up => {
                stats.up.fetch_add(n as u64, Ordering::Relaxed);
                if turned.swap(false, Ordering::Relaxed) {
                    stats.exchanges.fetch_add(1, Ordering::Relaxed);
                }
            }
            Dir::Down => {
                stats.down.fetch_add(n as u64, Ordering::Relaxed);
                turned.store(true, Ordering::Relaxed);
            }
        }
        let clock = Duration::from_secs_f64(n as f64 * 8.0 / shape.rate_bps as f64);
        free = free.max(Instant::now()) + clock;
        if tx.send((free + shape.delay, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One exchange of 25 KB up and 25 KB down over 100 ms round trip at 2 Mbit/s takes at
    /// least 100 ms + 50 KB at the rate (200 ms), and not much more.
    #[tokio::test]
    async fn a_link_delays_and_clocks_out_bytes() -> std::io::Result<()> {
        let echo = TcpListener::bind("127.0.0.1:0").await?;
        let target = echo.local_addr()?;
        tokio::spawn(async move {
            if let Ok((mut c, _)) = echo.accept().await {
                let mut got = vec![0u8; 25_000];
                if c.read_exact(&mut got).await.is_ok() {
                    let _ = c.write_all(&got).await;
                }
            }
        });
        let shape = Shape {
            delay: Duration::from_millis(50),
            rate_bps: 2_000_000,
        };
        let link = Link::start(target, shape).await?;
        let t = std::time::Instant::now();
        let mut c = TcpStream::connect(link.addr).await?;
        c.write_all(&[7u8; 25_000]).await?;
        let mut back = vec![0u8; 25_000];
        tokio::time::timeout(Duration::from_secs(20), c.read_exact(&mut back)).await??;
        let took = t.elapsed();
        assert!(back.iter().all(|&b| b == 7));
        assert!(took >= Duration::from_millis(280), "took {took:?}");
        assert!(took < Duration::from_secs(3), "took {took:?}");
        assert_eq!(link.stats.exchanges.load(Ordering::Relaxed), 1);
        assert!(link.floor() >= Duration::from_millis(300));
        Ok(())
    }
}

//! A tiny fault-injecting TCP proxy for loopback tests.
//!
//! It listens on `127.0.0.1:0` and forwards each connection to the target, misbehaving as the
//! current [`Fault`] says. Every loop is bounded by the connection's life and every wait by a
//! timeout, so a test can never hang on it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How the proxy misbehaves for new connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward faithfully.
    Pass,
    /// Accept and close at once (connection refused/reset, as the client sees it).
    Drop,
    /// Wait this long before forwarding anything.
    Delay(Duration),
    /// Forward the request, but only this many bytes of the response, then cut both sides:
    /// the server did the work, the client never hears of it.
    CutResponse(usize),
    /// Forward until the proxy's total client-to-server byte count (see [`ProxyStats`])
    /// reaches this many, then cut the connection that crosses it and every later one: a
    /// request cut mid-body (an upload interrupted by a lost signal). Unlike the other
    /// faults, it also applies to connections opened before it was set.
    CutUpAfter(u64),
    /// Forward faithfully and also send everything the client sends down a second upstream
    /// connection whose replies are discarded (the server sees every request twice).
    Duplicate,
}

/// A running proxy.
#[derive(Debug, Clone)]
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    target: Arc<Mutex<SocketAddr>>,
    stats: Arc<Mutex<ProxyStats>>,
}

/// What the proxy saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted.
    pub connections: u64,
    /// Bytes client to server.
    pub up_bytes: u64,
    /// Bytes server to client.
    pub down_bytes: u64,
}

const IO_TIMEOUT: Duration = Duration::from_secs(20);

impl FaultProxy {
    /// Starts a proxy to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let proxy = FaultProxy {
            addr: listener.local_addr()?,
            fault: Arc::new(Mutex::new(Fault::Pass)),
            target: Arc::new(Mutex::new(target)),
            stats: Arc::new(Mutex::new(ProxyStats::default())),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let p = p.clone();
                tokio::spawn(async move {
                    let _ = p.handle(conn).await;
                });
            }
        });
        Ok(proxy)
    }

    /// Sets the fault for new connections.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    /// Points the proxy at another server (a restarted one).
    pub fn retarget(&self, target: SocketAddr) {
        *self.target.lock().unwrap_or_else(|e| e.into_inner()) = target;
    }

    /// Counters so far.
    pub fn stats(&self) -> ProxyStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn count(&self, f: impl FnOnce(&mut ProxyStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    async fn handle(&self, mut client: TcpStream) -> std::io::Result<()> {
        self.count(|s| s.connections += 1);
        let fault = *self.fault.lock().unwrap_or_else(|e| e.into_inner());
        let target = *self.target.lock().unwrap_or_else(|e| e.into_inner());
        match fault {
            Fault::Drop => {
                let _ = client.shutdown().await;
                return Ok(());
            }
            Fault::Delay(d) => tokio::time::sleep(d).await,
            _ => {}
        }
        let upstream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(target)).await??;
        let (mut cr, mut cw) = client.into_split();
        let (mut ur, mut uw) = upstream.into_split();
        let mut dup = match fault {
            Fault::Duplicate => {
                let d = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(target)).await??;
                let (mut dr, dw) = d.into_split();
                tokio::spawn(async move {
                    let mut sink = vec![0u8; 64 * 1024];
                    while let Ok(Ok(n)) = tokio::time::timeout(IO_TIMEOUT, dr.read(&mut sink)).await
                    {
                        if n == 0 {
                            break;
                        }
                    }
                });
                Some(dw)
            }
            _ => None,
        };
        let me = self.clone();
        let (cut_tx, mut cut_rx) = tokio::sync::oneshot::channel::<()>();
        let up = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match tokio::time::timeout(IO_TIMEOUT, cr.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => n,
                    _ => break,
                };
                // Read the fault now, not at connect: a pooled connection is cut as well.
                let current = *me.fault.lock().unwrap_or_else(|e| e.into_inner());
                if let Fault::CutUpAfter(limit) = current {
                    let sofar = me.stats().up_bytes;
                    let allowed = usize::try_from(limit.saturating_sub(sofar)).unwrap_or(n);
                    if allowed < n {
                        me.count(|s| s.up_bytes += allowed as u64);
                        let _ = uw.write_all(&buf[..allowed]).await;
                        // Drop both directions without a clean end of the request.
                        let _ = cut_tx.send(());
                        return;
                    }
                }
                me.count(|s| s.up_bytes += n as u64);
                if let Some(d) = dup.as_mut() {
                    let _ = d.write_all(&buf[..n]).await;
                }
                if uw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = uw.shutdown().await;
        });
        let mut sent_down = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        let mut cut_gone = false;
        loop {
            let read = tokio::select! {
                r = tokio::time::timeout(IO_TIMEOUT, ur.read(&mut buf)) => r,
                c = &mut cut_rx, if !cut_gone => match c {
                    Ok(()) => break,
                    // The client side ended normally: keep forwarding the reply.
                    Err(_) => {
                        cut_gone = true;
                        continue;
                    }
                },
            };
            let n = match read {
                Ok(Ok(n)) if n > 0 => n,
                _ => break,
            };
            let n = match fault {
                Fault::CutResponse(limit) => n.min(limit.saturating_sub(sent_down)),
                _ => n,
            };
            if n > 0 {
                if cw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                sent_down += n;
                self.count(|s| s.down_bytes += n as u64);
            }
            if let Fault::CutResponse(limit) = fault
                && sent_down >= limit
            {
                break;
            }
        }
        let _ = cw.shutdown().await;
        up.abort();
        Ok(())
    }
}

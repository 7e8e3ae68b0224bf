//! A round-robin TCP load balancer for loopback tests, standing in for the one an operator
//! puts in front of several server instances.
//!
//! Each new connection goes to the next backend that passed its last health check
//! (`GET /readyz` answered 200, checked every [`CHECK_EVERY`]); a backend that refuses the
//! connection is marked down and the next one is tried. A connection stays with its backend for its life, as with any layer-4 balancer,
//! so a phone's pooled connection keeps one instance until it is closed. Every wait is
//! bounded by a timeout and every loop by a connection's life.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How often backends are checked.
pub const CHECK_EVERY: Duration = Duration::from_millis(200);
/// A backend that does not answer its check within this is down (generous: a loaded test
/// machine answers slowly, and a live backend marked down only narrows the choice).
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed to connect to a backend before trying the next.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

struct Backend {
    addr: SocketAddr,
    up: AtomicBool,
    connections: AtomicUsize,
}

/// A running balancer; stops when dropped.
pub struct Balancer {
    /// Where clients connect.
    pub addr: SocketAddr,
    backends: Arc<Vec<Backend>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn ready(addr: SocketAddr) -> bool {
    let check = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /readyz HTTP/1.1\r\nhost: lb\r\nconnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.ok()?;
        Some(&head == b"HTTP/1.1 200")
    };
    matches!(
        tokio::time::timeout(CHECK_TIMEOUT, check).await,
        Ok(Some(true))
    )
}

impl Balancer {
    /// Starts balancing over `backends` (all assumed up until the first check says not).
    pub async fn start(backends: Vec<SocketAddr>) -> std::io::Result<Balancer> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let backends: Arc<Vec<Backend>> = Arc::new(
            backends
                .into_iter()
                .map(|addr| Backend {
                    addr,
                    up: AtomicBool::new(true),
                    connections: AtomicUsize::new(0),
                })
                .collect(),
        );
        let checks = {
            let backends = backends.clone();
            tokio::spawn(async move {
                loop {
                    for b in backends.iter() {
                        b.up.store(ready(b.addr).await, Ordering::SeqCst);
                    }
                    tokio::time::sleep(CHECK_EVERY).await;
                }
            })
        };
        let accept = {
            let backends = backends.clone();
            tokio::spawn(async move {
                let next = AtomicUsize::new(0);
                while let Ok((client, _)) = listener.accept().await {
                    let n = backends.len();
                    let start = next.fetch_add(1, Ordering::Relaxed);
                    let order: Vec<usize> = (0..n).map(|i| (start + i) % n).collect();
                    // Backends that passed their check first, then the others.
                    let (mut up, down): (Vec<usize>, Vec<usize>) = order
                        .into_iter()
                        .partition(|&i| backends[i].up.load(Ordering::SeqCst));
                    up.extend(down);
                    let backends = backends.clone();
                    tokio::spawn(async move {
                        // A refused connection is retried on the next backend, as balancers
                        // do: nothing was sent yet, so nothing can be sent twice.
                        for i in up {
                            let b = &backends[i];
                            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(b.addr))
                                .await
                            {
                                Ok(Ok(upstream)) => {
                                    b.connections.fetch_add(1, Ordering::Relaxed);
                                    let (mut c, mut u) = (client, upstream);
                                    let _ = tokio::io::copy_bidirectional(&mut c, &mut u).await;
                                    return;
                                }
                                _ => b.up.store(false, Ordering::SeqCst),
                            }
                        }
                        // Every backend refused: the client sees its connection closed.
                    });
                }
            })
        };
        Ok(Balancer {
            addr,
            backends,
            tasks: vec![checks, accept],
        })
    }

    /// Connections handed to each backend so far.
    pub fn connections(&self) -> Vec<usize> {
        self.backends
            .iter()
            .map(|b| b.connections.load(Ordering::Relaxed))
            .collect()
    }
}

//! A fault-injecting TCP proxy between strata and PostgreSQL.
//!
//! Modes: forward bytes both ways; reject new connections (accept, then
//! close at once); stall (accept and read, forward nothing, never close).
//! `cut_all` closes every open connection, as a crashed server or a
//! network cut would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forward bytes both ways.
    Forward = 0,
    /// Accept new connections and close them at once.
    Reject = 1,
    /// Accept and swallow bytes, forward nothing, never close.
    Stall = 2,
}

/// See the module docs. Runs until dropped.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    mode: Arc<AtomicU8>,
    accepted: Arc<AtomicU64>,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `target` (`host:port`).
    pub async fn start(target: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let mode = Arc::new(AtomicU8::new(Mode::Forward as u8));
        let accepted = Arc::new(AtomicU64::new(0));
        let (cut, _) = watch::channel(0u64);
        let task = tokio::spawn(serve(
            listener,
            target.to_owned(),
            mode.clone(),
            accepted.clone(),
            cut.clone(),
        ));
        FaultProxy {
            port,
            mode,
            accepted,
            cut,
            task,
        }
    }

    /// The port strata should connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Switches the mode for new traffic (and, for `Stall`, open connections).
    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Connections accepted so far (each is one connect attempt by a client).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes every open connection now.
    pub fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.cut_all();
        self.task.abort();
    }
}

async fn serve(
    listener: TcpListener,
    target: String,
    mode: Arc<AtomicU8>,
    accepted: Arc<AtomicU64>,
    cut: watch::Sender<u64>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        accepted.fetch_add(1, Ordering::SeqCst);
        if mode.load(Ordering::SeqCst) == Mode::Reject as u8 {
            drop(client);
            continue;
        }
        let target = target.clone();
        let mode = mode.clone();
        let mut cut = cut.subscribe();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&target).await else {
                return;
            };
            tokio::select! {
                _ = pump(client, server, mode) => {}
                _ = cut.changed() => {}
            }
        });
    }
}

/// Copies both ways until either side closes; while stalled, reads and
/// discards.
async fn pump(client: TcpStream, server: TcpStream, mode: Arc<AtomicU8>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = {
        let mode = mode.clone();
        async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match cr.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if mode.load(Ordering::SeqCst) == Mode::Stall as u8 {
                    continue;
                }
                if sw.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if mode.load(Ordering::SeqCst) == Mode::Stall as u8 {
                continue;
            }
            if cw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

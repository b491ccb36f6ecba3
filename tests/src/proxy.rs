//! A fault-injecting TCP proxy between strata and PostgreSQL.
//!
//! Modes: forward bytes both ways; reject new connections (accept, then
//! close at once); stall (accept and read, forward nothing, never close).
//! `cut_all` closes every open connection, as a crashed server or a
//! network cut would. [`FaultProxy::cut_next_commit`] cuts only the
//! connection that sends the next simple-query `COMMIT`, just before or
//! just after forwarding it, so the client never hears the answer.

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

/// Where [`FaultProxy::cut_next_commit`] cuts the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitCut {
    /// Drop the `COMMIT` and cut: the server never sees it and rolls back.
    Before,
    /// Forward the `COMMIT`, then cut before the answer comes back: the
    /// server commits, the client cannot know.
    After,
}

/// Commit cuts asked for and made, shared with every connection.
#[derive(Debug, Default)]
struct CommitCuts {
    /// Cuts still to make, `Before` ones.
    before: AtomicU64,
    /// Cuts still to make, `After` ones.
    after: AtomicU64,
    /// Cuts made.
    done: AtomicU64,
    /// Forward bytes as they come, without framing PostgreSQL messages (for
    /// proxying other protocols, such as Redis).
    raw: std::sync::atomic::AtomicBool,
}

impl CommitCuts {
    /// Takes one armed cut, if any.
    fn take(&self) -> Option<CommitCut> {
        let take = |n: &AtomicU64| {
            n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
                .is_ok()
        };
        if take(&self.after) {
            Some(CommitCut::After)
        } else if take(&self.before) {
            Some(CommitCut::Before)
        } else {
            None
        }
    }
}

/// See the module docs. Runs until dropped.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    mode: Arc<AtomicU8>,
    accepted: Arc<AtomicU64>,
    commits: Arc<CommitCuts>,
    cut: watch::Sender<u64>,
    target: Arc<std::sync::Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Like [`FaultProxy::start`], for a protocol other than PostgreSQL's
    /// (Redis): bytes are forwarded as they come; COMMIT cuts do not apply.
    pub async fn start_raw(target: &str) -> FaultProxy {
        let proxy = Self::start(target).await;
        proxy.commits.raw.store(true, Ordering::SeqCst);
        proxy
    }

    /// Listens on a free loopback port and forwards PostgreSQL traffic to
    /// `target` (`host:port`).
    pub async fn start(target: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let mode = Arc::new(AtomicU8::new(Mode::Forward as u8));
        let accepted = Arc::new(AtomicU64::new(0));
        let commits = Arc::new(CommitCuts::default());
        let (cut, _) = watch::channel(0u64);
        let target = Arc::new(std::sync::Mutex::new(target.to_owned()));
        let task = tokio::spawn(serve(
            listener,
            target.clone(),
            mode.clone(),
            accepted.clone(),
            commits.clone(),
            cut.clone(),
        ));
        FaultProxy {
            port,
            mode,
            accepted,
            commits,
            cut,
            target,
            task,
        }
    }

    /// Sends new connections to `target` (`host:port`) from now on, as a
    /// failover behind a stable address does; open ones stay where they are
    /// until [`FaultProxy::cut_all`].
    pub fn retarget(&self, target: &str) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = target.to_owned();
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

    /// Arms one cut: the next connection whose client sends a simple-query
    /// (`'Q'`) message starting with `COMMIT` is closed on both sides, the
    /// message dropped (`Before`) or forwarded first (`After`). Other
    /// connections are untouched. Cuts armed add up.
    pub fn cut_next_commit(&self, when: CommitCut) {
        let n = match when {
            CommitCut::Before => &self.commits.before,
            CommitCut::After => &self.commits.after,
        };
        n.fetch_add(1, Ordering::SeqCst);
    }

    /// Connections cut by [`FaultProxy::cut_next_commit`] so far.
    pub fn commits_cut(&self) -> u64 {
        self.commits.done.load(Ordering::SeqCst)
    }

    /// Disarms commit cuts not made yet.
    pub fn disarm_commit_cuts(&self) {
        self.commits.before.store(0, Ordering::SeqCst);
        self.commits.after.store(0, Ordering::SeqCst);
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
    target: Arc<std::sync::Mutex<String>>,
    mode: Arc<AtomicU8>,
    accepted: Arc<AtomicU64>,
    commits: Arc<CommitCuts>,
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
        let target = target.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mode = mode.clone();
        let commits = commits.clone();
        let mut cut = cut.subscribe();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&target).await else {
                return;
            };
            tokio::select! {
                _ = pump(client, server, mode, commits) => {}
                _ = cut.changed() => {}
            }
        });
    }
}

/// Splits the client's byte stream into protocol messages, to find
/// simple-query `COMMIT`s.
#[derive(Debug, Default)]
struct Framer {
    /// Bytes read but not yet forwarded (at most one partial message).
    buf: Vec<u8>,
    /// The untyped startup message has gone by.
    started: bool,
}

/// One complete client message in [`Framer::buf`].
struct Frame {
    end: usize,
    commit: bool,
}

impl Framer {
    /// The next complete message starting at `at`, if there is one.
    fn next(&mut self, at: usize) -> Option<Frame> {
        let rest = &self.buf[at..];
        if !self.started {
            // StartupMessage, SSLRequest, GSSENCRequest: Int32 length first.
            let len = usize::try_from(i32::from_be_bytes(rest.get(..4)?.try_into().ok()?)).ok()?;
            if rest.len() < len {
                return None;
            }
            let code = rest
                .get(4..8)
                .map(|c| u32::from_be_bytes(c.try_into().unwrap_or_default()));
            // An SSL or GSS request is followed by the real startup message.
            self.started = !matches!(code, Some(80_877_103 | 80_877_104));
            return Some(Frame {
                end: at + len,
                commit: false,
            });
        }
        let len = usize::try_from(i32::from_be_bytes(rest.get(1..5)?.try_into().ok()?)).ok()?;
        if rest.len() < 1 + len {
            return None;
        }
        let commit = rest[0] == b'Q' && {
            let text = String::from_utf8_lossy(&rest[5..1 + len]);
            text.trim_start()
                .get(..6)
                .is_some_and(|w| w.eq_ignore_ascii_case("commit"))
        };
        Some(Frame {
            end: at + 1 + len,
            commit,
        })
    }
}

/// Copies both ways until either side closes; while stalled, reads and
/// discards. Returns early to cut the connection at an armed `COMMIT`.
async fn pump(client: TcpStream, server: TcpStream, mode: Arc<AtomicU8>, commits: Arc<CommitCuts>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = {
        let mode = mode.clone();
        async move {
            let mut read = vec![0u8; 16 * 1024];
            let mut framer = Framer::default();
            loop {
                let n = match cr.read(&mut read).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                framer.buf.extend_from_slice(&read[..n]);
                // Forward whole messages only, so a COMMIT can be held back.
                let raw = commits.raw.load(Ordering::SeqCst);
                let mut done = if raw { framer.buf.len() } else { 0 };
                let mut cut = None;
                while let Some(frame) = (!raw).then(|| framer.next(done)).flatten() {
                    if frame.commit
                        && let Some(when) = commits.take()
                    {
                        cut = Some(match when {
                            CommitCut::Before => done,
                            CommitCut::After => frame.end,
                        });
                        break;
                    }
                    done = frame.end;
                }
                let upto = cut.unwrap_or(done);
                if mode.load(Ordering::SeqCst) != Mode::Stall as u8
                    && sw.write_all(&framer.buf[..upto]).await.is_err()
                {
                    return;
                }
                if cut.is_some() {
                    commits.done.fetch_add(1, Ordering::SeqCst);
                    // Returning drops both sockets before the answer is read.
                    return;
                }
                framer.buf.drain(..upto);
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

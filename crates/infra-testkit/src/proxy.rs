//! A TCP fault proxy (the fault scenarios of `docs/reliability.md`): put it between a
//! client and any TCP server (Redis, the Qdrant gRPC test server, a real Qdrant) and make
//! the network misbehave on command.
//!
//! Timeout and recovery tests need a server that hangs, drops connections or disappears, and
//! then comes back, without killing the real server or depending on how it is provisioned. The
//! proxy listens on `127.0.0.1` (an ephemeral port, kept for its whole life), forwards bytes
//! both ways to the upstream address, and applies the current [`Fault`] to new *and* existing
//! connections:
//!
//! - [`Fault::None`]: pass through;
//! - [`Fault::Latency`]: every forwarded chunk is delayed, in both directions;
//! - [`Fault::Blackhole`]: connections stay open but nothing is forwarded (a hung server);
//! - [`Fault::Reset`]: every connection is closed with a TCP reset, new ones at accept;
//! - [`Fault::Refuse`]: the listener is closed so that connects are refused, and opened again
//!   on the same port when another fault is set.
//!
//! [`FaultProxy::set_fault`] returns once the fault is in effect, so a test can act on it at
//! once without sleeping.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use infra_testkit::{Fault, FaultProxy};
//!
//! # async fn demo(redis: std::net::SocketAddr) -> infra_testkit::Result<()> {
//! let proxy = FaultProxy::start(redis).await?;
//! let url = format!("redis://{}", proxy.addr()); // give this URL to the client under test
//! # let _ = url;
//! proxy.set_fault(Fault::Latency(Duration::from_millis(200))).await?;
//! proxy.set_fault(Fault::Blackhole).await?; // calls must now time out...
//! proxy.set_fault(Fault::None).await?; // ...and succeed again after this
//! proxy.set_fault(Fault::Reset).await?; // the pool must reconnect
//! proxy.set_fault(Fault::Refuse).await?; // the server is gone
//! proxy.set_fault(Fault::None).await?; // back on the same port
//! assert!(proxy.connections_accepted() > 0);
//! proxy.stop().await;
//! # Ok(())
//! # }
//! ```

use std::future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::{Error, Result};

/// How long the proxy waits for the upstream server to accept a connection before it closes
/// the client's connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the proxy keeps trying to listen again on its port after [`Fault::Refuse`].
const REBIND_DEADLINE: Duration = Duration::from_secs(5);
/// Pause between two attempts to listen again, and after a failed accept.
const RETRY_PAUSE: Duration = Duration::from_millis(20);
/// Size of the buffer of each direction of each connection.
const BUFFER_SIZE: usize = 16 * 1024;
/// Listen backlog.
const BACKLOG: u32 = 1024;

/// What the proxy does to the traffic; switch with [`FaultProxy::set_fault`].
///
/// A fault applies to the connections that exist when it is set and to those accepted after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Forward bytes unchanged, in both directions.
    #[default]
    None,
    /// Forward bytes, but wait this long before forwarding each chunk read, in both
    /// directions (so a request/response round trip takes at least twice the delay).
    Latency(Duration),
    /// Keep connections open and forward nothing: what either side sends is read and dropped,
    /// and new connections are accepted and then hang (no upstream connection is made until
    /// the fault changes). Simulates a hung server.
    Blackhole,
    /// Close every existing connection with a TCP reset (`SO_LINGER` 0), and reset new ones as
    /// soon as they are accepted. Clients see "connection reset by peer".
    Reset,
    /// Close the listener so that connects are refused. Existing connections are left alone
    /// (set [`Fault::Reset`] first to kill them too). Setting any other fault listens again on
    /// the same port.
    Refuse,
}

/// What every connection task watches.
#[derive(Debug, Clone, Copy)]
struct State {
    /// The current fault.
    fault: Fault,
    /// Bumped each time [`Fault::Reset`] is set: a connection accepted under an older epoch
    /// resets itself, even when another fault replaced `Reset` before it noticed.
    reset_epoch: u64,
}

/// A request from the handle to the control task, answered once carried out.
#[derive(Debug)]
enum Command {
    Set(Fault, oneshot::Sender<Result<()>>),
    Stop(oneshot::Sender<()>),
}

/// A TCP proxy on `127.0.0.1` in front of one upstream server, with faults injected on
/// command. See the [module documentation](self).
///
/// Needs a Tokio runtime (it runs as tasks on the runtime that started it). Dropping it, or
/// [`stop`](Self::stop), closes the listener and every connection and ends every task.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    accepted: Arc<AtomicU64>,
    state: watch::Receiver<State>,
    commands: mpsc::UnboundedSender<Command>,
    control: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on `127.0.0.1` (an ephemeral port) and forwards every accepted connection to
    /// `upstream`, with no fault.
    ///
    /// The upstream server need not be up: each client connection makes its own upstream
    /// connection, and when that fails the client's connection is closed.
    #[expect(
        clippy::unused_async,
        reason = "async: it spawns onto the caller's Tokio runtime, so it belongs in async code"
    )]
    pub async fn start(upstream: SocketAddr) -> Result<Self> {
        let runtime = Handle::try_current()
            .map_err(|err| Error::new(format!("fault proxy: needs a Tokio runtime: {err}")))?;
        let listener = listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .map_err(|err| Error::new(format!("fault proxy: cannot listen on 127.0.0.1: {err}")))?;
        let addr = listener
            .local_addr()
            .map_err(|err| Error::new(format!("fault proxy: no local address: {err}")))?;
        let (state_tx, state_rx) = watch::channel(State {
            fault: Fault::None,
            reset_epoch: 0,
        });
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let accepted = Arc::new(AtomicU64::new(0));
        let control = Control {
            addr,
            upstream,
            listener: Some(listener),
            state: state_tx,
            commands: commands_rx,
            accepted: Arc::clone(&accepted),
            connections: JoinSet::new(),
        };
        let control = runtime.spawn(control.run());
        Ok(Self {
            addr,
            upstream,
            accepted,
            state: state_rx,
            commands: commands_tx,
            control,
        })
    }

    /// The address clients connect to: `127.0.0.1:<port>`, the same for the proxy's whole
    /// life (also after [`Fault::Refuse`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server the proxy forwards to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The fault in effect.
    pub fn fault(&self) -> Fault {
        self.state.borrow().fault
    }

    /// How many client connections the proxy has accepted since it started, including those
    /// it reset at once or blackholed.
    pub fn connections_accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Switches to `fault`, for existing and new connections, and returns once it is in
    /// effect: after [`Fault::Reset`] every connection that existed has been reset, after
    /// [`Fault::Refuse`] connects are refused, and after any other fault the proxy listens.
    ///
    /// Fails when the proxy cannot listen on its port again within a few seconds (another
    /// process took it); the next `set_fault` tries again.
    pub async fn set_fault(&self, fault: Fault) -> Result<()> {
        let (done, applied) = oneshot::channel();
        self.commands
            .send(Command::Set(fault, done))
            .map_err(|_| stopped())?;
        applied.await.map_err(|_| stopped())?
    }

    /// Stops accepting, closes every connection and ends every task, then returns.
    ///
    /// Dropping the proxy does the same without waiting.
    pub async fn stop(self) {
        let (done, stopped) = oneshot::channel();
        if self.commands.send(Command::Stop(done)).is_ok() {
            let _ = stopped.await;
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The control task owns the listener and the connection tasks (a `JoinSet`, which
        // aborts them when dropped), so aborting it ends everything.
        self.control.abort();
    }
}

fn stopped() -> Error {
    Error::new("fault proxy: stopped")
}

/// A listener on `addr` with `SO_REUSEADDR`, so that the port can be listened on again while
/// connections accepted on it are still open or in `TIME_WAIT`.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// The task that owns the listener and the connection tasks and carries out commands.
struct Control {
    addr: SocketAddr,
    upstream: SocketAddr,
    /// `None` while the fault is [`Fault::Refuse`] (or after a failed attempt to listen again).
    listener: Option<TcpListener>,
    state: watch::Sender<State>,
    commands: mpsc::UnboundedReceiver<Command>,
    accepted: Arc<AtomicU64>,
    connections: JoinSet<()>,
}

impl Control {
    async fn run(mut self) {
        loop {
            // Forget the connections that have ended.
            while self.connections.try_join_next().is_some() {}
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Set(fault, done)) => {
                        let applied = self.apply(fault).await;
                        let _ = done.send(applied);
                    }
                    Some(Command::Stop(done)) => {
                        self.listener = None;
                        self.connections.shutdown().await;
                        let _ = done.send(());
                        return;
                    }
                    // The handle is gone without a word: end everything.
                    None => return,
                },
                accepted = accept(self.listener.as_ref()) => match accepted {
                    Ok(client) => self.admit(client),
                    // E.g. out of file descriptors: do not spin.
                    Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
                },
            }
        }
    }

    fn admit(&mut self, client: TcpStream) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        let state = *self.state.borrow();
        if state.fault == Fault::Reset {
            reset(client);
            return;
        }
        let _ = client.set_nodelay(true);
        self.connections.spawn(connection(
            client,
            self.upstream,
            self.state.subscribe(),
            state.reset_epoch,
        ));
    }

    async fn apply(&mut self, fault: Fault) -> Result<()> {
        let reset = fault == Fault::Reset;
        self.state.send_modify(|state| {
            state.fault = fault;
            if reset {
                state.reset_epoch += 1;
            }
        });
        if reset {
            // Every connection task sees the new epoch, resets its client and ends.
            while self.connections.join_next().await.is_some() {}
        }
        if fault == Fault::Refuse {
            self.listener = None;
        } else if self.listener.is_none() {
            self.listener = Some(self.listen_again().await?);
        }
        Ok(())
    }

    async fn listen_again(&self) -> Result<TcpListener> {
        let deadline = Instant::now() + REBIND_DEADLINE;
        loop {
            match listen(self.addr) {
                Ok(listener) => return Ok(listener),
                Err(err) if Instant::now() >= deadline => {
                    return Err(Error::new(format!(
                        "fault proxy: cannot listen again on {}: {err}",
                        self.addr
                    )));
                }
                Err(_) => tokio::time::sleep(RETRY_PAUSE).await,
            }
        }
    }
}

/// The next client, or never when there is no listener.
async fn accept(listener: Option<&TcpListener>) -> io::Result<TcpStream> {
    match listener {
        Some(listener) => listener.accept().await.map(|(client, _)| client),
        None => future::pending().await,
    }
}

/// Closes `stream` with a TCP reset rather than a FIN.
fn reset(stream: TcpStream) {
    // With SO_LINGER 0, closing the socket sends RST and discards unsent data; it never
    // blocks.
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Normally (FIN): one side closed, an I/O error, or the proxy stopped.
    Close,
    /// With a TCP reset, because [`Fault::Reset`] was set.
    Reset,
}

/// One client connection, from accept to close.
async fn connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut state: watch::Receiver<State>,
    epoch: u64,
) {
    let ending = tokio::select! {
        () = serve(&mut client, upstream, state.clone()) => Ending::Close,
        ending = interrupted(&mut state, epoch) => ending,
    };
    if ending == Ending::Reset {
        reset(client);
    }
}

/// Resolves when the connection must be reset (a newer reset epoch) or the proxy is gone.
async fn interrupted(state: &mut watch::Receiver<State>, epoch: u64) -> Ending {
    loop {
        if state.borrow_and_update().reset_epoch != epoch {
            return Ending::Reset;
        }
        if state.changed().await.is_err() {
            return Ending::Close;
        }
    }
}

/// Connects upstream (once no blackhole holds the connection) and forwards both ways until
/// both sides have closed or either fails.
async fn serve(client: &mut TcpStream, upstream: SocketAddr, mut state: watch::Receiver<State>) {
    let (mut client_rx, mut client_tx) = client.split();
    if hold_while_blackholed(&mut client_rx, &mut state)
        .await
        .is_err()
    {
        return;
    }
    let Ok(Ok(mut server)) =
        tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)).await
    else {
        // Upstream down or hung: close the client's connection.
        return;
    };
    let _ = server.set_nodelay(true);
    let (mut server_rx, mut server_tx) = server.split();
    let _ = tokio::try_join!(
        pump(&mut client_rx, &mut server_tx, &state),
        pump(&mut server_rx, &mut client_tx, &state),
    );
}

/// While the fault is [`Fault::Blackhole`], reads from the client and drops what it sends.
/// Fails when the client closes or the proxy is gone.
async fn hold_while_blackholed<R>(
    client: &mut R,
    state: &mut watch::Receiver<State>,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
{
    let mut buffer = vec![0; BUFFER_SIZE];
    loop {
        if state.borrow_and_update().fault != Fault::Blackhole {
            return Ok(());
        }
        tokio::select! {
            read = client.read(&mut buffer) => {
                if read? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            changed = state.changed() => {
                changed.map_err(|_| io::Error::other("fault proxy stopped"))?;
            }
        }
    }
}

/// Copies `from` to `to`, applying the current fault to each chunk, and passes on the end of
/// stream (a half close).
async fn pump<R, W>(from: &mut R, to: &mut W, state: &watch::Receiver<State>) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buffer = vec![0; BUFFER_SIZE];
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            // The other side may already be gone; the copy the other way ends on its own.
            let _ = to.shutdown().await;
            return Ok(());
        }
        let fault = state.borrow().fault;
        if let Fault::Latency(delay) = fault {
            tokio::time::sleep(delay).await;
        }
        let fault = state.borrow().fault;
        if fault == Fault::Blackhole {
            continue;
        }
        to.write_all(&buffer[..read]).await?;
    }
}

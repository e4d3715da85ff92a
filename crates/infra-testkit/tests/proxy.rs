//! Tier 1: the TCP fault proxy in front of an in-process echo server (no external server).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use infra_testkit::{Fault, FaultProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// Generous bound for anything that should happen: only a broken proxy waits this long.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long a read must stay unanswered to count as hung.
const HANG: Duration = Duration::from_millis(500);

/// An echo server on 127.0.0.1: every connection gets back what it sends.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut rx, mut tx) = stream.split();
                let _ = tokio::io::copy(&mut rx, &mut tx).await;
            });
        }
    });
    addr
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let stream = timeout(PATIENCE, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect failed");
    stream.set_nodelay(true).unwrap();
    stream
}

/// Sends `message` and reads back as many bytes.
async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Vec<u8> {
    stream.write_all(message).await.unwrap();
    let mut reply = vec![0; message.len()];
    timeout(PATIENCE, stream.read_exact(&mut reply))
        .await
        .expect("no reply through the proxy")
        .expect("reading the reply failed");
    reply
}

/// Whether a read on `stream` stays unanswered for [`HANG`].
async fn hangs(stream: &mut TcpStream) -> bool {
    let mut byte = [0; 1];
    timeout(HANG, stream.read(&mut byte)).await.is_err()
}

/// A read on `stream` once the proxy has closed it: `Ok(0)` (FIN) or the error (RST).
async fn read_after_close(stream: &mut TcpStream) -> std::io::Result<usize> {
    let mut byte = [0; 1];
    timeout(PATIENCE, stream.read(&mut byte))
        .await
        .expect("the proxy left the connection open")
}

#[tokio::test]
async fn passes_bytes_through_both_ways() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    assert!(proxy.addr().ip().is_loopback());
    assert_ne!(proxy.addr(), proxy.upstream());
    assert_eq!(proxy.fault(), Fault::None);
    let mut client = connect(proxy.addr()).await;
    assert_eq!(round_trip(&mut client, b"hello").await, b"hello");

    // More than one buffer's worth, written while the echo is read back.
    let payload: Vec<u8> = (0..300_000_u32)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect();
    let (mut rx, mut tx) = client.split();
    let write = async {
        tx.write_all(&payload).await.unwrap();
    };
    let read = async {
        let mut echoed = vec![0; payload.len()];
        timeout(PATIENCE, rx.read_exact(&mut echoed))
            .await
            .expect("large payload not echoed")
            .unwrap();
        echoed
    };
    let ((), echoed) = tokio::join!(write, read);
    assert!(echoed == payload, "the payload came back altered");
}

#[tokio::test]
async fn latency_delays_each_direction() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    let mut client = connect(proxy.addr()).await;
    assert_eq!(round_trip(&mut client, b"warm").await, b"warm");

    let delay = Duration::from_millis(200);
    proxy.set_fault(Fault::Latency(delay)).await.unwrap();
    assert_eq!(proxy.fault(), Fault::Latency(delay));
    let started = Instant::now();
    assert_eq!(round_trip(&mut client, b"slow").await, b"slow");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= 2 * delay,
        "a round trip took {elapsed:?}, expected at least {:?}",
        2 * delay
    );

    // A new connection is delayed too.
    let mut late = connect(proxy.addr()).await;
    let started = Instant::now();
    assert_eq!(round_trip(&mut late, b"late").await, b"late");
    assert!(started.elapsed() >= 2 * delay);
}

#[tokio::test]
async fn blackhole_hangs_then_recovers() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    let mut existing = connect(proxy.addr()).await;
    assert_eq!(round_trip(&mut existing, b"before").await, b"before");

    proxy.set_fault(Fault::Blackhole).await.unwrap();
    existing.write_all(b"lost").await.unwrap();
    assert!(
        hangs(&mut existing).await,
        "an existing connection got a reply"
    );
    let mut fresh = connect(proxy.addr()).await;
    fresh.write_all(b"lost").await.unwrap();
    assert!(hangs(&mut fresh).await, "a new connection got a reply");

    proxy.set_fault(Fault::None).await.unwrap();
    // What was sent into the blackhole is gone: only the new bytes come back.
    assert_eq!(round_trip(&mut existing, b"after").await, b"after");
    assert_eq!(round_trip(&mut fresh, b"after").await, b"after");
}

#[tokio::test]
async fn reset_kills_existing_and_new_connections() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    let mut existing = connect(proxy.addr()).await;
    assert_eq!(round_trip(&mut existing, b"ping").await, b"ping");

    proxy.set_fault(Fault::Reset).await.unwrap();
    let read = read_after_close(&mut existing).await;
    assert!(
        matches!(&read, Err(err) if err.kind() == ErrorKind::ConnectionReset),
        "expected a connection reset, got {read:?}"
    );

    // A connection made while the fault holds is accepted and reset at once (or, if the
    // reset beats the handshake, refused).
    if let Ok(Ok(mut fresh)) = timeout(PATIENCE, TcpStream::connect(proxy.addr())).await {
        let read = read_after_close(&mut fresh).await;
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "a new connection stayed usable: {read:?}"
        );
    }

    proxy.set_fault(Fault::None).await.unwrap();
    let mut again = connect(proxy.addr()).await;
    assert_eq!(round_trip(&mut again, b"back").await, b"back");
}

#[tokio::test]
async fn refuse_closes_the_port_and_reopens_the_same_one() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    let addr = proxy.addr();
    let mut existing = connect(addr).await;
    assert_eq!(round_trip(&mut existing, b"up").await, b"up");

    proxy.set_fault(Fault::Refuse).await.unwrap();
    let refused = timeout(PATIENCE, TcpStream::connect(addr))
        .await
        .expect("connect hung instead of being refused");
    assert!(
        matches!(&refused, Err(err) if err.kind() == ErrorKind::ConnectionRefused),
        "expected connection refused, got {refused:?}"
    );
    // Refuse only stops listening: the existing connection still works.
    assert_eq!(round_trip(&mut existing, b"still").await, b"still");

    proxy.set_fault(Fault::None).await.unwrap();
    assert_eq!(proxy.addr(), addr);
    let mut again = connect(addr).await;
    assert_eq!(round_trip(&mut again, b"back").await, b"back");
}

#[tokio::test]
async fn counts_accepted_connections() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    assert_eq!(proxy.connections_accepted(), 0);
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = connect(proxy.addr()).await;
        assert_eq!(round_trip(&mut client, b"n").await, b"n");
        clients.push(client);
    }
    assert_eq!(proxy.connections_accepted(), 3);

    // Refused connects are not accepted; accepting resumes afterwards.
    proxy.set_fault(Fault::Refuse).await.unwrap();
    assert!(TcpStream::connect(proxy.addr()).await.is_err());
    proxy.set_fault(Fault::None).await.unwrap();
    let mut client = connect(proxy.addr()).await;
    assert_eq!(round_trip(&mut client, b"n").await, b"n");
    assert_eq!(proxy.connections_accepted(), 4);
}

#[tokio::test]
async fn unreachable_upstream_closes_the_client() {
    // A port nobody listens on.
    let upstream = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let proxy = FaultProxy::start(upstream).await.unwrap();
    let mut client = connect(proxy.addr()).await;
    let read = read_after_close(&mut client).await;
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "expected the connection closed, got {read:?}"
    );
    assert_eq!(proxy.connections_accepted(), 1);
}

#[tokio::test]
async fn stop_closes_the_listener_and_every_connection() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    let addr = proxy.addr();
    let mut client = connect(addr).await;
    assert_eq!(round_trip(&mut client, b"hi").await, b"hi");
    proxy.stop().await;
    let read = read_after_close(&mut client).await;
    assert!(matches!(read, Ok(0) | Err(_)), "still open: {read:?}");
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn drop_closes_every_connection() {
    let proxy = FaultProxy::start(echo_server().await).await.unwrap();
    let addr = proxy.addr();
    let mut client = connect(addr).await;
    assert_eq!(round_trip(&mut client, b"hi").await, b"hi");
    drop(proxy);
    let read = read_after_close(&mut client).await;
    assert!(matches!(read, Ok(0) | Err(_)), "still open: {read:?}");
    assert!(TcpStream::connect(addr).await.is_err());
}

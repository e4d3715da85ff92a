//! The real binary (`env!("CARGO_BIN_EXE_infra-server")`): one-shot runs and a `serve`
//! child process whose stdout and stderr are drained as they come.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_infra-server");

/// The binary in `dir` (no stray `.env`), with only the given `SOCIAL_*` keys set (and no
/// `RUST_LOG`, `SSL_CERT_FILE` or `SSL_CERT_DIR` from the test's environment).
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("SOCIAL_")
            || matches!(key.as_str(), "RUST_LOG" | "SSL_CERT_FILE" | "SSL_CERT_DIR")
        {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd
}

/// Runs the binary to completion in an empty temporary directory.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    run_in(dir.path(), args, env)
}

/// Runs the binary to completion in `dir`.
pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(dir, args, env).output().expect("run infra-server")
}

/// A run's stdout, lossily decoded.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A run's stderr, lossily decoded.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A `serve` child process and the address it printed. Its stderr (the logs) is read by a
/// thread as it is written, so that verbose logging never blocks the server on a full pipe.
pub struct Served {
    child: Child,
    /// `host:port` from the `listening` line.
    pub address: String,
    /// The working directory (the embedded store lives in `./data/qdrant` of it).
    pub dir: tempfile::TempDir,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

/// Appends every line of `from` to `into`, in a thread; sends each line on `lines` too.
fn drain(
    from: impl Read + Send + 'static,
    into: &Arc<Mutex<String>>,
    lines: Option<std::sync::mpsc::Sender<String>>,
) -> std::thread::JoinHandle<()> {
    let into = Arc::clone(into);
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            {
                let mut text = into.lock().unwrap_or_else(PoisonError::into_inner);
                text.push_str(&line);
                text.push('\n');
            }
            if let Some(tx) = &lines {
                let _ = tx.send(line);
            }
        }
    })
}

impl Served {
    /// Starts `infra-server` with `args` in a fresh directory and waits for the line
    /// `infra-server listening on http://ADDRESS` on stdout.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::try_start(args, env).unwrap_or_else(|(code, err)| {
            panic!("no `listening` line on stdout (exit {code:?}); stderr:\n{err}")
        })
    }

    /// As [`Served::start`], but a process that exits (or prints something else) first is
    /// returned as its exit code and its stderr.
    pub fn try_start(args: &[&str], env: &[(&str, &str)]) -> Result<Self, (Option<i32>, String)> {
        let dir = tempfile::tempdir().unwrap();
        let mut child = command(dir.path(), args, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start infra-server");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        drain(child.stdout.take().unwrap(), &stdout, Some(tx));
        let stderr_reader = drain(child.stderr.take().unwrap(), &stderr, None);
        let line = rx.recv_timeout(Duration::from_mins(1));
        let address = line.ok().and_then(|line| {
            line.strip_prefix("infra-server listening on http://")
                .map(str::to_owned)
        });
        let Some(address) = address else {
            let _ = child.kill();
            let status = child.wait().ok().and_then(|s| s.code());
            // The pipe closed with the process: the reader ends once it has read it all.
            let _ = stderr_reader.join();
            let err = stderr
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            return Err((status, err));
        };
        Ok(Self {
            child,
            address,
            dir,
            stdout,
            stderr,
            stderr_reader: Some(stderr_reader),
        })
    }

    /// Everything written to stdout so far.
    pub fn stdout_text(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Everything written to stderr (the logs) so far.
    pub fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A `GET` over HTTP/1.0: the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(&self.address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.address
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// SIGTERM, then the exit status and the whole stderr.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(killed.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("infra-server did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The pipe closed with the process: the reader ends once it has read it all.
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        (status.code(), self.stderr_text())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A managed child process: spawned with its output in a log file, waited on until ready,
//! paused, resumed, killed and restarted on command, and always killed at the end.
//!
//! # No orphans
//!
//! Dropping a [`ManagedProcess`] kills the child (`SIGKILL`) and reaps it, also while a test
//! unwinds from a panic. For the cases where `Drop` never runs (a server kept in a `static`,
//! a test binary killed by a timeout, `panic = "abort"`), every child is paired with a tiny
//! watchdog (`sh`) that holds the read end of a pipe whose write end only this process holds:
//! when this process ends, however it ends, the pipe closes and the watchdog kills the child
//! and removes its cleanup directory. Dropping or killing the process disarms the watchdog
//! first.
//!
//! Signals are sent with the shell's `kill` builtin (`unsafe` is forbidden in the workspace,
//! and this keeps the testkit free of a libc binding).

use std::ffi::OsString;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How many log lines an error message quotes.
const LOG_LINES_IN_ERRORS: usize = 20;

/// What to run: a program, its arguments, where its output goes.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// A short name for messages, e.g. `redis-server 127.0.0.1:6390`.
    pub name: String,
    /// The program (looked up on `PATH` when it has no slash).
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The file that receives stdout and stderr (appended to, across restarts).
    pub log_path: PathBuf,
    /// The working directory, when not the current one.
    pub current_dir: Option<PathBuf>,
    /// A directory the watchdog removes when this process ends without dropping the child.
    pub cleanup_dir: Option<PathBuf>,
}

impl ProcessSpec {
    /// A spec with no working or cleanup directory.
    pub fn new(
        name: impl Into<String>,
        program: impl Into<OsString>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
        log_path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            name: name.into(),
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            log_path: log_path.into(),
            current_dir: None,
            cleanup_dir: None,
        }
    }
}

/// A child process that is killed when dropped (see the [module docs](self)).
///
/// Every method takes `&self`, so a test can share one (`Arc`) between the task that loads a
/// server and the one that kills or pauses it.
pub struct ManagedProcess {
    spec: ProcessSpec,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    child: Option<Child>,
    watchdog: Option<Watchdog>,
    paused: bool,
}

impl fmt::Debug for ManagedProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedProcess")
            .field("name", &self.spec.name)
            .field("pid", &self.pid())
            .field("log_path", &self.spec.log_path)
            .finish_non_exhaustive()
    }
}

impl ManagedProcess {
    /// Starts the process. It is not waited on: see [`wait_ready`](Self::wait_ready).
    pub fn spawn(spec: ProcessSpec) -> Result<Self> {
        let process = Self {
            spec,
            state: Mutex::new(State::default()),
        };
        {
            let mut state = process.lock();
            process.start_locked(&mut state)?;
        }
        Ok(process)
    }

    /// The name given in the spec.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The file receiving the process's output.
    pub fn log_path(&self) -> &Path {
        &self.spec.log_path
    }

    /// The pid of the running child, `None` once it was killed or exited.
    pub fn pid(&self) -> Option<u32> {
        let mut state = self.lock();
        reap_if_exited(&mut state);
        state.child.as_ref().map(Child::id)
    }

    /// Whether the child is running (a paused child is running).
    pub fn is_running(&self) -> bool {
        self.pid().is_some()
    }

    /// Whether the child is paused by [`pause`](Self::pause).
    pub fn is_paused(&self) -> bool {
        self.lock().paused
    }

    /// Freezes the child with `SIGSTOP`: its sockets stay open, nothing answers.
    pub fn pause(&self) -> Result<()> {
        let mut state = self.lock();
        let pid = self.running_pid(&mut state, "pause")?;
        send_signal(pid, "STOP").map_err(|e| e.context(format!("pausing {}", self.spec.name)))?;
        state.paused = true;
        Ok(())
    }

    /// Thaws a child paused by [`pause`](Self::pause) with `SIGCONT`.
    pub fn resume(&self) -> Result<()> {
        let mut state = self.lock();
        let pid = self.running_pid(&mut state, "resume")?;
        send_signal(pid, "CONT").map_err(|e| e.context(format!("resuming {}", self.spec.name)))?;
        state.paused = false;
        Ok(())
    }

    /// Kills the child with `SIGKILL` (no shutdown, no save) and reaps it. Does nothing when
    /// it is not running.
    pub fn kill(&self) -> Result<()> {
        let mut state = self.lock();
        self.kill_locked(&mut state)
    }

    /// Asks the child to stop with `SIGTERM` (Redis saves and exits cleanly), waits up to
    /// `grace`, then kills it.
    pub fn terminate(&self, grace: Duration) -> Result<()> {
        let mut state = self.lock();
        reap_if_exited(&mut state);
        let Some(pid) = state.child.as_ref().map(Child::id) else {
            return Ok(());
        };
        if state.paused {
            send_signal(pid, "CONT")?;
            state.paused = false;
        }
        send_signal(pid, "TERM")?;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            reap_if_exited(&mut state);
            if state.child.is_none() {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.kill_locked(&mut state)
    }

    /// Kills the child if it runs, then starts it again with the same program, arguments
    /// and log file. It is not waited on: see [`wait_ready`](Self::wait_ready).
    pub fn restart(&self) -> Result<()> {
        let mut state = self.lock();
        self.kill_locked(&mut state)?;
        self.start_locked(&mut state)
    }

    /// Starts the child again if it is not running (after [`kill`](Self::kill) or a crash).
    pub fn start_if_stopped(&self) -> Result<()> {
        let mut state = self.lock();
        reap_if_exited(&mut state);
        if state.child.is_some() {
            return Ok(());
        }
        self.start_locked(&mut state)
    }

    /// The last `lines` lines of the log file (empty when there is none).
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.spec.log_path, lines)
    }

    /// Polls `probe` every 50 ms until it returns `Ok`, failing with a clear message when
    /// the child exits, or when `timeout` passes; the message has the probe's last error and
    /// the last lines of the log.
    pub fn wait_ready(
        &self,
        timeout: Duration,
        what: &str,
        mut probe: impl FnMut() -> Result<()>,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut state = self.lock();
                if let Some(status) = reap_if_exited(&mut state) {
                    drop(state);
                    return Err(self.failure(&format!("exited ({status}) before {what}")));
                }
                if state.child.is_none() {
                    drop(state);
                    return Err(self.failure(&format!("is not running, so not {what}")));
                }
            }
            let last = match probe() {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            if Instant::now() >= deadline {
                return Err(self.failure(&format!(
                    "did not become {what} within {timeout:?} (last attempt: {last})"
                )));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// An error about this process, quoting the end of its log.
    pub fn failure(&self, what: &str) -> Error {
        let tail = self.log_tail(LOG_LINES_IN_ERRORS);
        let log = self.spec.log_path.display();
        if tail.is_empty() {
            Error::new(format!("{} {what}; its log {log} is empty", self.spec.name))
        } else {
            Error::new(format!(
                "{} {what}; last lines of {log}:\n{tail}",
                self.spec.name
            ))
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn running_pid(&self, state: &mut State, action: &str) -> Result<u32> {
        reap_if_exited(state);
        state
            .child
            .as_ref()
            .map(Child::id)
            .ok_or_else(|| self.failure(&format!("is not running, cannot {action} it")))
    }

    fn start_locked(&self, state: &mut State) -> Result<()> {
        let spec = &self.spec;
        let log = open_log(&spec.log_path)?;
        let log_err = log
            .try_clone()
            .map_err(|e| Error::new(format!("cannot share {}: {e}", spec.log_path.display())))?;
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if let Some(dir) = &spec.current_dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|e| {
            Error::new(format!(
                "cannot start {} (`{}`): {e}",
                spec.name,
                spec.program.to_string_lossy()
            ))
        })?;
        match Watchdog::arm(child.id(), spec.cleanup_dir.as_deref()) {
            Ok(watchdog) => state.watchdog = Some(watchdog),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err.context(format!("starting {}", spec.name)));
            }
        }
        state.child = Some(child);
        state.paused = false;
        Ok(())
    }

    fn kill_locked(&self, state: &mut State) -> Result<()> {
        if let Some(watchdog) = state.watchdog.take() {
            watchdog.disarm();
        }
        state.paused = false;
        let Some(mut child) = state.child.take() else {
            return Ok(());
        };
        // SIGKILL works on a stopped process too.
        if let Err(err) = child.kill()
            && child.try_wait().ok().flatten().is_none()
        {
            return Err(Error::new(format!("cannot kill {}: {err}", self.spec.name)));
        }
        child
            .wait()
            .map(drop)
            .map_err(|e| Error::new(format!("cannot reap {}: {e}", self.spec.name)))
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        let mut state = self.lock();
        let _ = self.kill_locked(&mut state);
    }
}

/// Reaps the child if it exited, disarming its watchdog (its pid may be reused).
fn reap_if_exited(state: &mut State) -> Option<ExitStatus> {
    let status = state.child.as_mut()?.try_wait().ok().flatten()?;
    state.child = None;
    state.paused = false;
    if let Some(watchdog) = state.watchdog.take() {
        watchdog.disarm();
    }
    Some(status)
}

fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::new(format!("cannot open log file {}: {e}", path.display())))
}

/// Sends `SIGsignal` to `pid` through the shell's `kill` builtin.
pub fn send_signal(pid: u32, signal: &str) -> Result<()> {
    let output = Command::new("sh")
        .args([
            "-c",
            "kill -s \"$1\" \"$2\"",
            "sh",
            signal,
            &pid.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::new(format!("cannot run `sh -c kill`: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "kill -s {signal} {pid} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// The last `lines` lines of a file, lossily decoded (empty when it cannot be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a cleanup when this process ends without disarming it first: kills a pid (and
/// removes a directory), or runs a command (e.g. `docker rm -f <id>`).
pub(crate) struct Watchdog {
    process: Child,
    /// Held open; its closing (this process ending) is the watchdog's trigger.
    _pipe: ChildStdin,
}

/// `read` returns at end of file, that is when the pipe's only writer (us) is gone.
const KILL_SCRIPT: &str =
    "read -r _line; kill -s KILL \"$1\" 2>/dev/null; if [ -n \"$2\" ]; then rm -rf -- \"$2\"; fi";

/// Runs its arguments as a command once the pipe closes.
const COMMAND_SCRIPT: &str = "read -r _line; \"$@\" >/dev/null 2>&1";

impl Watchdog {
    fn arm(pid: u32, cleanup_dir: Option<&Path>) -> Result<Self> {
        let pid = pid.to_string();
        let dir = cleanup_dir.map(Path::as_os_str).unwrap_or_default();
        Self::arm_script(KILL_SCRIPT, &[pid.as_ref(), dir])
    }

    /// Runs `argv` when this process ends without [`disarm`](Self::disarm).
    pub(crate) fn arm_command(argv: &[&str]) -> Result<Self> {
        let argv: Vec<&std::ffi::OsStr> = argv.iter().map(std::ffi::OsStr::new).collect();
        Self::arm_script(COMMAND_SCRIPT, &argv)
    }

    fn arm_script(script: &str, args: &[&std::ffi::OsStr]) -> Result<Self> {
        let mut process = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::new(format!("cannot start the watchdog (`sh`): {e}")))?;
        let pipe = process
            .stdin
            .take()
            .ok_or_else(|| Error::new("the watchdog has no stdin pipe"))?;
        Ok(Self {
            process,
            _pipe: pipe,
        })
    }

    /// Stops the watchdog without letting it act.
    pub(crate) fn disarm(mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Writes `contents` to `path`, with a clear error.
pub(crate) fn write_file(path: &Path, contents: &[u8]) -> Result<()> {
    File::create(path)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper(dir: &Path) -> ManagedProcess {
        ManagedProcess::spawn(ProcessSpec::new(
            "sleep 60",
            "sleep",
            ["60"],
            dir.join("sleep.log"),
        ))
        .unwrap()
    }

    fn alive(pid: u32) -> bool {
        send_signal(pid, "0").is_ok()
    }

    #[test]
    fn drop_kills_and_reaps_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let process = sleeper(dir.path());
        let pid = process.pid().unwrap();
        assert!(alive(pid));
        drop(process);
        assert!(!alive(pid), "the child must be gone after drop");
    }

    #[test]
    fn pause_resume_kill_restart() {
        let dir = tempfile::tempdir().unwrap();
        let process = sleeper(dir.path());
        process.pause().unwrap();
        assert!(process.is_paused());
        process.resume().unwrap();
        assert!(!process.is_paused());
        let first = process.pid().unwrap();
        process.kill().unwrap();
        assert!(!process.is_running());
        assert!(process.pause().is_err());
        process.restart().unwrap();
        let second = process.pid().unwrap();
        assert_ne!(first, second);
        process.terminate(Duration::from_secs(5)).unwrap();
        assert!(!process.is_running());
        process.start_if_stopped().unwrap();
        assert!(process.is_running());
    }

    #[test]
    fn an_exiting_child_fails_readiness_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let process = ManagedProcess::spawn(ProcessSpec::new(
            "failing",
            "sh",
            ["-c", "echo 'fatal: bad config'; exit 3"],
            dir.path().join("failing.log"),
        ))
        .unwrap();
        let err = process
            .wait_ready(Duration::from_secs(10), "ready", || {
                Err(Error::new("not yet"))
            })
            .unwrap_err();
        assert!(err.message().contains("exited"), "{err}");
        assert!(err.message().contains("fatal: bad config"), "{err}");
    }

    #[test]
    fn readiness_times_out_with_the_last_probe_error() {
        let dir = tempfile::tempdir().unwrap();
        let process = sleeper(dir.path());
        let err = process
            .wait_ready(Duration::from_millis(200), "ready", || {
                Err(Error::new("connection refused"))
            })
            .unwrap_err();
        assert!(err.message().contains("within"), "{err}");
        assert!(err.message().contains("connection refused"), "{err}");
    }

    #[test]
    fn the_watchdog_kills_and_cleans_up_when_its_pipe_closes() {
        let dir = tempfile::tempdir().unwrap();
        let doomed = dir.path().join("doomed");
        std::fs::create_dir(&doomed).unwrap();
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        let watchdog = Watchdog::arm(child.id(), Some(&doomed)).unwrap();
        // Dropping without disarming closes the pipe, as this process ending would.
        drop(watchdog);
        let status = child.wait().unwrap();
        assert!(!status.success(), "sleep must have been killed: {status}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while doomed.exists() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(!doomed.exists(), "the cleanup directory must be removed");
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = ManagedProcess::spawn(ProcessSpec::new(
            "nothing",
            "definitely-not-a-program-here",
            Vec::<String>::new(),
            dir.path().join("x.log"),
        ))
        .unwrap_err();
        assert!(err.message().contains("cannot start nothing"), "{err}");
    }
}

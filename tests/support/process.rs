//! Child processes that die with the test: each runs in its own process
//! group, and the whole group is killed by its id when the guard drops or,
//! for peers kept in a `static`, when the test process exits.
//!
//! NOTE: the exit hook does not run when the test process itself is killed
//! by a signal (Ctrl-C, SIGKILL). Only the Node peers (`oidc.mjs`,
//! `mock_oauth.mjs`) then still exit, because they watch their stdin.
//! httpbin and Latchkey keep running until killed.

use std::fs::File;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

const SIGKILL: i32 = 9;

extern "C" {
    fn kill(pid: i32, signal: i32) -> i32;
    fn atexit(callback: extern "C" fn()) -> i32;
}

/// Process group ids of every child still running.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static REGISTER_EXIT_HOOK: Once = Once::new();

extern "C" fn kill_live_groups() {
    let groups = match LIVE_GROUPS.lock() {
        Ok(groups) => groups.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    for group in groups {
        kill_group(group);
    }
}

fn kill_group(group: i32) {
    // SAFETY: kill(2) has no memory effects; a negative id names the group.
    unsafe {
        kill(-group, SIGKILL);
    }
}

/// A running child process and its process group.
pub struct ChildGuard {
    name: String,
    child: Child,
    // Held open so that peers watching stdin see EOF once the test exits.
    _stdin: Option<ChildStdin>,
    stderr_path: PathBuf,
}

impl ChildGuard {
    /// Spawns `command` in a new process group with stdin piped and stderr
    /// written to `stderr_path`. Stdout is left to the caller's setting.
    pub fn spawn(name: &str, mut command: Command, stderr_path: &Path) -> ChildGuard {
        REGISTER_EXIT_HOOK.call_once(|| {
            // SAFETY: the callback is a plain function that only sends signals.
            unsafe {
                atexit(kill_live_groups);
            }
        });
        let stderr = File::create(stderr_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", stderr_path.display()));
        command
            .process_group(0)
            .stdin(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {name} ({command:?}): {e}"));
        let group = child.id() as i32;
        LIVE_GROUPS.lock().unwrap().push(group);
        let stdin = child.stdin.take();
        ChildGuard {
            name: name.to_owned(),
            child,
            _stdin: stdin,
            stderr_path: stderr_path.to_owned(),
        }
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    pub fn stderr_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = File::open(&self.stderr_path) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Returns the exit status when the process has already exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the process group and waits for the process.
    pub fn stop(&mut self) {
        let group = self.child.id() as i32;
        kill_group(group);
        let _ = self.child.wait();
        LIVE_GROUPS.lock().unwrap().retain(|g| *g != group);
    }

    /// Waits until a TCP connection to `port` succeeds, failing the test with
    /// the process's stderr when it exits first or `timeout` passes.
    pub fn wait_for_port(&mut self, port: u16, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Some(status) = self.exited() {
                panic!(
                    "{} exited with {status} before listening on port {port}; stderr:\n{}",
                    self.name,
                    self.stderr_text()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "{} did not listen on port {port} within {timeout:?}; stderr:\n{}",
                    self.name,
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Returns a port that was free a moment ago, for a peer or server that
/// binds it itself a little later.
///
/// The port is drawn at random from 20000..32768, below Linux's ephemeral
/// range (32768..61000 by default), and checked by binding it. A port from
/// the ephemeral range would be handed out again to the outgoing connections
/// that parallel tests open by the hundred, so one of them could take it
/// before the server binds. Ports below the range are only ever taken by an
/// explicit bind like this one.
pub fn free_port() -> u16 {
    const LOW: u16 = 20_000;
    const HIGH: u16 = 32_768;
    for _ in 0..200 {
        let draw = u16::from_le_bytes(random_bytes(2).try_into().unwrap());
        let port = LOW + draw % (HIGH - LOW);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 127.0.0.1:{LOW}..{HIGH} after 200 draws")
}

/// Returns `len` random bytes from the kernel.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes
}

/// Returns a random lowercase hex string of `len` bytes (`2 * len` digits).
pub fn random_hex(len: usize) -> String {
    random_bytes(len)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

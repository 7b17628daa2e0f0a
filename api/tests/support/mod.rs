//! Running the real `sigil` binary in tests: a clean environment, a free port, and a server
//! that is killed however the test ends.

#![allow(dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The binary with no `SIGIL_*` settings inherited from the environment.
pub fn sigil(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sigil"));
    command.current_dir(dir).kill_on_drop(true);
    for (key, _) in std::env::vars() {
        if key.starts_with("SIGIL_") {
            command.env_remove(key);
        }
    }
    command
}

/// A port nobody listens on right now (the issuer must name the port before the server binds).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A running `sigil serve`; SIGKILLed when dropped (even while a test panics), and its last
/// log lines printed if the test failed.
pub struct Server {
    pub label: &'static str,
    pub child: Child,
    pub pid: u32,
    pub base: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub async fn start(
        label: &'static str,
        dir: &Path,
        database_url: &str,
        key_file: &Path,
    ) -> Server {
        // Another process may take the free port before the server binds it: try again.
        for _ in 0..3 {
            let port = free_port();
            let mut child = sigil(dir)
                .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
                .env("SIGIL_DATABASE_URL", database_url)
                .env("SIGIL_MASTER_KEY_FILE", key_file)
                .env("SIGIL_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
                .env("SIGIL_CHECKPOINT_INTERVAL_SECS", "1")
                .env("SIGIL_SHUTDOWN_GRACE_SECS", "5")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn sigil serve");
            let pid = child.id().expect("just spawned");
            let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
            let log = Arc::new(Mutex::new(Vec::new()));
            let listening = tokio::time::timeout(Duration::from_secs(60), async {
                while let Ok(Some(line)) = lines.next_line().await {
                    log.lock().unwrap().push(line.clone());
                    if line.contains("listening on http://") {
                        return true;
                    }
                }
                false
            })
            .await
            .expect("the server listens within a minute");
            if !listening {
                eprintln!("{label} exited before listening:");
                for line in log.lock().unwrap().iter() {
                    eprintln!("  {line}");
                }
                continue;
            }
            // Keep draining the log (the last lines, for failures) so the child never blocks.
            let keep = log.clone();
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut log = keep.lock().unwrap();
                    if log.len() >= 400 {
                        log.drain(..200);
                    }
                    log.push(line);
                }
            });
            return Server {
                label,
                child,
                pid,
                base: format!("http://127.0.0.1:{port}"),
                log,
            };
        }
        panic!("{label} did not start");
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id().expect("still running") as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    /// SIGKILL: no shutdown, no last checkpoint, connections cut mid-request.
    pub async fn kill(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("dies at once")
            .unwrap();
        assert!(!status.success(), "{status}");
    }

    /// SIGTERM, and the process must exit cleanly.
    pub async fn stop(mut self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("stops within 30 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- last lines of {} ({}) ---", self.label, self.base);
            for line in self.log.lock().unwrap().iter().rev().take(40).rev() {
                eprintln!("  {line}");
            }
        }
        // SIGKILL unless it has already been reaped (then the pid may belong to someone else).
        let _ = self.child.start_kill();
    }
}

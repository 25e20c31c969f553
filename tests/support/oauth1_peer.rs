//! The OAuth 1.0a provider and API of `tests/peers/oauth1_provider.py`,
//! whose signature checks are oauthlib's.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use super::peers::peers_dir;
use super::process::ChildGuard;

const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct OAuth1Provider {
    pub port: u16,
    pub base_url: String,
    process: ChildGuard,
    _logs: TempDir,
}

impl OAuth1Provider {
    /// Starts the provider with `config` (clients, pre-existing tokens and
    /// the required realm, as the script's docstring describes).
    pub fn start(config: &Value) -> OAuth1Provider {
        let python = peers_dir().join(".venv/bin/python");
        assert!(
            python.exists(),
            "the Python test peers are not installed: {} is missing. Run scripts/test.sh.",
            python.display()
        );
        let logs = TempDir::new().unwrap();
        let mut command = Command::new(python);
        command
            .arg(peers_dir().join("oauth1_provider.py"))
            .arg(config.to_string())
            .stdout(Stdio::piped());
        let mut process =
            ChildGuard::spawn("oauth1_provider", command, &logs.path().join("stderr"));
        let stdout = process.child_mut().stdout.take().unwrap();

        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = sender.send(line);
            }
            for _ in lines {}
        });
        let Ok(line) = receiver.recv_timeout(START_TIMEOUT) else {
            panic!(
                "oauth1_provider printed no start line within {START_TIMEOUT:?}; stderr:\n{}",
                process.stderr_text()
            );
        };
        let started: Value = serde_json::from_str(&line).expect("start line is JSON");
        let port = started["port"].as_u64().expect("port in the start line") as u16;
        process.wait_for_port(port, START_TIMEOUT);
        OAuth1Provider {
            port,
            base_url: format!("http://127.0.0.1:{port}"),
            process,
            _logs: logs,
        }
    }

    pub fn stderr_text(&self) -> String {
        self.process.stderr_text()
    }

    /// Returns how many requests reached `route` (`request_token`,
    /// `authorize`, `access_token`, `api`) or were `rejected`.
    pub async fn count(&self, route: &str) -> u64 {
        let stats: Value = reqwest::get(format!("{}/__stats", self.base_url))
            .await
            .expect("GET /__stats")
            .json()
            .await
            .expect("/__stats JSON");
        stats[route].as_u64().unwrap_or(0)
    }
}

//! Helpers shared by the unit tests: provider definitions from YAML, and a
//! local HTTP listener that records raw token requests.

use std::sync::{Arc, Mutex};

use latchkey_catalog::Provider;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub(crate) fn provider_from_yaml(yaml: &str) -> Provider {
    serde_yaml::from_str(yaml).unwrap_or_else(|err| panic!("invalid test provider: {err}\n{yaml}"))
}

/// Returns an OAuth2 provider with every optional field at its default.
pub(crate) fn oauth2_provider() -> Provider {
    provider_from_yaml(
        r#"
name: plain
display_name: Plain
auth:
  mode: oauth2
  authorization_url: https://plain.example/authorize
  token_url: https://plain.example/token
proxy:
  base_url: https://api.plain.example
"#,
    )
}

/// A reply the test server sends.
#[derive(Clone)]
pub(crate) struct CannedReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl CannedReply {
    pub(crate) fn json(status: u16, body: serde_json::Value) -> CannedReply {
        CannedReply {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }
}

/// One request as the server read it off the socket.
#[derive(Clone, Debug)]
pub(crate) struct RecordedRequest {
    pub raw: Vec<u8>,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RecordedRequest {
    /// Returns the value of header `name` (case-insensitive) and panics if
    /// the header was sent more than once.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let mut values = self
            .headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name));
        let first = values.next().map(|(_, value)| value.as_str());
        assert!(values.next().is_none(), "header {name} sent more than once");
        first
    }

    /// Parses the form-encoded body into ordered pairs.
    pub(crate) fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    pub(crate) fn form_value(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }
}

/// An HTTP/1.1 listener on 127.0.0.1 that replies to every connection with the
/// next canned reply (the last one repeats) and records the raw request.
pub(crate) struct TestServer {
    pub base_url: String,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub(crate) async fn start(replies: Vec<CannedReply>) -> TestServer {
        assert!(!replies.is_empty(), "the test server needs a reply");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));

        let recorded = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            let mut served = 0;
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let reply = replies[served.min(replies.len() - 1)].clone();
                served += 1;
                if let Some(request) = serve_one(stream, &reply).await {
                    recorded.lock().unwrap().push(request);
                }
            }
        });

        TestServer {
            base_url,
            requests,
            task,
        }
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Returns the only request received, and fails the test if there were
    /// others.
    pub(crate) fn single_request(&self) -> RecordedRequest {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one request");
        requests.into_iter().next().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_one(mut stream: TcpStream, reply: &CannedReply) -> Option<RecordedRequest> {
    let raw = read_request(&mut stream).await?;
    let request = parse_request(raw);

    let response = format!(
        "HTTP/1.1 {} Canned\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        reply.status,
        reply.content_type,
        reply.body.len(),
        reply.body
    );
    stream.write_all(response.as_bytes()).await.ok()?;
    stream.shutdown().await.ok()?;
    Some(request)
}

/// Reads the head and a `Content-Length` body.
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 {
            return None;
        }
        raw.extend_from_slice(&buffer[..read]);

        let Some(head_end) = find(&raw, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .map(|value| value.trim().parse::<usize>().unwrap())
            .unwrap_or(0);
        if raw.len() >= head_end + 4 + length {
            return Some(raw);
        }
    }
}

fn parse_request(raw: Vec<u8>) -> RecordedRequest {
    let head_end = find(&raw, b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..head_end].to_vec()).unwrap();
    let body = String::from_utf8(raw[head_end + 4..].to_vec()).unwrap();

    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap().split(' ');
    let method = request_line.next().unwrap().to_owned();
    let path = request_line.next().unwrap().to_owned();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_owned(), value.trim().to_owned())
        })
        .collect();

    RecordedRequest {
        raw,
        method,
        path,
        headers,
        body,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

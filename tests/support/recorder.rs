//! A small HTTP/1.1 upstream of the tests' own that records the target
//! (unchanged), headers and body of every request and replies `200 {}`, or
//! the canned reply set for the request's path. Tests use it where they
//! must prove what reached an upstream or that nothing did, to script a
//! provider's misbehaviour, and to send raw request lines that an HTTP
//! client would normalize.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the recorder read it off the socket.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// The request target exactly as sent (path and query, not decoded).
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// Returns every value of the header `name` (case-insensitive).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Returns the part of the target after `?`, or "" when it has none.
    pub fn raw_query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }

    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }
}

/// A reply that the recorder sends for every request to one path.
#[derive(Clone, Debug)]
pub struct CannedReply {
    pub status: u16,
    /// Extra headers, such as `Location`.
    pub headers: Vec<(String, String)>,
    pub content_type: String,
    pub body: String,
}

impl CannedReply {
    pub fn json(status: u16, body: &serde_json::Value) -> CannedReply {
        CannedReply {
            status,
            headers: Vec::new(),
            content_type: "application/json".to_owned(),
            body: body.to_string(),
        }
    }

    pub fn text(status: u16, body: &str) -> CannedReply {
        CannedReply {
            status,
            headers: Vec::new(),
            content_type: "text/plain".to_owned(),
            body: body.to_owned(),
        }
    }

    pub fn redirect(status: u16, location: &str) -> CannedReply {
        CannedReply {
            status,
            headers: vec![("Location".to_owned(), location.to_owned())],
            content_type: "text/plain".to_owned(),
            body: format!("redirecting to {location}"),
        }
    }
}

type Replies = Arc<Mutex<HashMap<String, CannedReply>>>;

/// A listener on 127.0.0.1 whose accept loop runs on its own thread for the
/// rest of the test process.
pub struct Recorder {
    pub port: u16,
    pub base_url: String,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    replies: Replies,
}

impl Recorder {
    pub fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the recorder");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let replies = Replies::default();
        let shared = Arc::clone(&requests);
        let canned = Arc::clone(&replies);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&shared);
                let canned = Arc::clone(&canned);
                std::thread::spawn(move || serve_connection(stream, &shared, &canned));
            }
        });
        Recorder {
            port,
            base_url: format!("http://127.0.0.1:{port}"),
            requests,
            replies,
        }
    }

    /// Makes every later request to `path` (without query) get `reply`.
    pub fn set_reply(&self, path: &str, reply: CannedReply) {
        self.replies.lock().unwrap().insert(path.to_owned(), reply);
    }

    /// Returns the requests received so far whose path is `path`.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|request| request.path() == path)
            .collect()
    }

    /// Returns every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve_connection(
    stream: TcpStream,
    requests: &Mutex<Vec<RecordedRequest>>,
    replies: &Mutex<HashMap<String, CannedReply>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone the socket"));
    let Some(request) = read_request(&mut reader) else {
        return;
    };
    let reply = replies
        .lock()
        .unwrap()
        .get(request.path())
        .cloned()
        .unwrap_or_else(|| CannedReply::json(200, &serde_json::json!({})));
    requests.lock().unwrap().push(request);
    let mut head = format!(
        "HTTP/1.1 {} Canned\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = stream;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(reply.body.as_bytes());
    let _ = stream.shutdown(Shutdown::Both);
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<RecordedRequest> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();

    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            break;
        }
        let header = header.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }

    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(RecordedRequest {
        method,
        target,
        headers,
        body,
    })
}

/// A reply to a raw request: the status code and everything after the
/// header block.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub body: String,
}

/// Sends `method target HTTP/1.1` with `headers` to 127.0.0.1:`port` over a
/// plain TCP socket, so the target reaches the server exactly as written
/// (like `curl --path-as-is`), and reads the reply until the server closes.
pub fn raw_request(port: u16, method: &str, target: &str, headers: &[(&str, &str)]) -> RawReply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect for a raw request");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\nContent-Length: 0\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("send a raw request");

    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in the reply to {target}: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_owned());
    RawReply { status, body }
}

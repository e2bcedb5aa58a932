//! A minimal Lambda Runtime API (the `2018-06-01` endpoints a runtime client calls), served
//! on loopback for one function process at a time. It hands out one invocation at a time,
//! as Lambda does, and timestamps the two moments the benchmark needs: when the event left
//! (`/next` answered) and when the function's answer arrived (`/response` or `/error`).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const PREFIX: &str = "/2018-06-01/runtime";

/// What the function answered to one invocation.
pub struct Answer {
    pub ok: bool,
    pub body: Vec<u8>,
    /// From the moment `/next` was answered to the moment the answer was read.
    pub round_trip: Duration,
}

#[derive(Default)]
struct State {
    first_next: Option<Instant>,
    pending: VecDeque<(String, Vec<u8>)>,
    sent: Option<(String, Instant)>,
    answer: Option<Answer>,
    init_error: Option<String>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn update(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().expect("no poisoning"));
        self.changed.notify_all();
    }

    /// Re-checks `outcome` on every change (and every 50 ms, for outside conditions such
    /// as a process exiting) until it decides or `timeout` passes.
    fn wait<T>(
        &self,
        timeout: Duration,
        awaited: &str,
        mut outcome: impl FnMut(&mut State) -> Option<Result<T, String>>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().expect("no poisoning");
        loop {
            if let Some(decided) = outcome(&mut state) {
                return decided;
            }
            if Instant::now() > deadline {
                return Err(format!("no {awaited} within {timeout:?}"));
            }
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(50))
                .expect("no poisoning")
                .0;
        }
    }
}

pub struct RuntimeApi {
    address: SocketAddr,
    shared: Arc<Shared>,
    function_arn: String,
}

impl RuntimeApi {
    pub fn start(function_arn: &str) -> Result<RuntimeApi, String> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| format!("Runtime API: bind: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let shared = Arc::new(Shared::default());
        let api = RuntimeApi {
            address,
            shared: shared.clone(),
            function_arn: function_arn.to_string(),
        };
        let arn = api.function_arn.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if shared.state.lock().expect("no poisoning").closed {
                    break;
                }
                let (shared, arn) = (shared.clone(), arn.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &shared, &arn);
                });
            }
        });
        Ok(api)
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API` for the function process.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Waits for the function's first `/next` (the end of its init); `exited` tells
    /// whether the process died meanwhile.
    pub fn ready(
        &self,
        timeout: Duration,
        mut exited: impl FnMut() -> bool,
    ) -> Result<Instant, String> {
        self.shared.wait(timeout, "/next", |state| {
            if let Some(at) = state.first_next {
                return Some(Ok(at));
            }
            if let Some(error) = &state.init_error {
                return Some(Err(format!("init failed: {error}")));
            }
            exited().then(|| Err("the process exited before asking for an event".into()))
        })
    }

    /// Hands one event to the function and waits for its answer.
    pub fn invoke(
        &self,
        request_id: &str,
        event: Vec<u8>,
        timeout: Duration,
    ) -> Result<Answer, String> {
        self.shared.update(|s| {
            s.answer = None;
            s.pending.push_back((request_id.to_string(), event));
        });
        let awaited = format!("an answer to {request_id}");
        self.shared
            .wait(timeout, &awaited, |state| state.answer.take().map(Ok))
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.update(|s| s.closed = true);
        // Wakes the accept loop so that it sees `closed`.
        let _ = TcpStream::connect(self.address);
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// Serves one keep-alive connection until the client closes it or the API shuts down.
fn serve(stream: TcpStream, shared: &Shared, arn: &str) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader, &mut writer)? {
        let path = request.path.strip_prefix(PREFIX).unwrap_or(&request.path);
        match (request.method.as_str(), path) {
            ("GET", "/invocation/next") => {
                let Some((id, event)) = next_event(shared) else {
                    return Ok(());
                };
                let deadline_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis())
                    + 60_000;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Lambda-Runtime-Aws-Request-Id: {id}\r\n\
                     Lambda-Runtime-Deadline-Ms: {deadline_ms}\r\n\
                     Lambda-Runtime-Invoked-Function-Arn: {arn}\r\n\
                     Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\
                     Content-Length: {}\r\n\r\n",
                    event.len()
                );
                shared.update(|s| s.sent = Some((id, Instant::now())));
                writer.write_all(head.as_bytes())?;
                writer.write_all(&event)?;
                writer.flush()?;
            }
            ("POST", "/init/error") => {
                let text = String::from_utf8_lossy(&request.body).into_owned();
                shared.update(|s| s.init_error = Some(text));
                accepted(&mut writer)?;
            }
            ("POST", path) if path.starts_with("/invocation/") => {
                let arrived = Instant::now();
                let ok = path.ends_with("/response");
                shared.update(|s| {
                    if let Some((_, sent)) = s.sent.take() {
                        s.answer = Some(Answer {
                            ok,
                            body: request.body,
                            round_trip: arrived - sent,
                        });
                    }
                });
                accepted(&mut writer)?;
            }
            _ => {
                writer.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
            }
        }
    }
    Ok(())
}

fn accepted(writer: &mut TcpStream) -> std::io::Result<()> {
    writer.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n")?;
    writer.flush()
}

/// Blocks until the benchmark queues an event (`None` once the API shuts down).
fn next_event(shared: &Shared) -> Option<(String, Vec<u8>)> {
    let mut state = shared.state.lock().expect("no poisoning");
    state.first_next.get_or_insert_with(Instant::now);
    shared.changed.notify_all();
    loop {
        if let Some(event) = state.pending.pop_front() {
            return Some(event);
        }
        if state.closed {
            return None;
        }
        state = shared.changed.wait(state).expect("no poisoning");
    }
}

/// One HTTP/1.1 request: Content-Length or chunked bodies, `Expect: 100-continue` honoured.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default().to_string(),
    );
    let (mut length, mut chunked, mut expect) = (0usize, false, false);
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "expect" => expect = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    if expect {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok(Some(Request { method, path, body }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:test";

    /// One response as a client reads it: the head, and the body by Content-Length.
    fn response(reader: &mut BufReader<TcpStream>) -> (String, Vec<u8>) {
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            head += &line;
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        (head, body)
    }

    /// A function that takes one event and sends `answer`: a head and body, or a head that
    /// expects `100 Continue` before its chunked body.
    fn client(
        api: &RuntimeApi,
        answer: &'static [u8],
        expect_continue: bool,
    ) -> thread::JoinHandle<Vec<u8>> {
        let address = api.address();
        thread::spawn(move || {
            let mut stream = TcpStream::connect(address).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            stream
                .write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: api\r\n\r\n")
                .unwrap();
            let (head, event) = response(&mut reader);
            assert!(
                head.contains("Lambda-Runtime-Aws-Request-Id: r-1"),
                "{head}"
            );
            assert!(head.contains(ARN), "{head}");
            stream.write_all(answer).unwrap();
            if expect_continue {
                let (head, _) = response(&mut reader);
                assert!(head.starts_with("HTTP/1.1 100"), "{head}");
                stream
                    .write_all(b"3\r\n{\"o\r\n5\r\nk\":1}\r\n0\r\n\r\n")
                    .unwrap();
            }
            let (head, _) = response(&mut reader);
            assert!(head.starts_with("HTTP/1.1 202"), "{head}");
            event
        })
    }

    #[test]
    fn hands_out_one_event_and_reads_a_chunked_answer_after_100_continue() {
        let api = RuntimeApi::start(ARN).unwrap();
        let function = client(
            &api,
            b"POST /2018-06-01/runtime/invocation/r-1/response HTTP/1.1\r\n\
              Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
            true,
        );
        api.ready(Duration::from_secs(5), || false).unwrap();
        let answer = api
            .invoke("r-1", b"{\"n\":1}".to_vec(), Duration::from_secs(5))
            .unwrap();
        assert_eq!(function.join().unwrap(), b"{\"n\":1}");
        assert!(answer.ok);
        assert_eq!(answer.body, b"{\"ok\":1}");
        assert!(answer.round_trip > Duration::ZERO);
    }

    #[test]
    fn an_error_answer_is_not_ok() {
        let api = RuntimeApi::start(ARN).unwrap();
        let function = client(
            &api,
            b"POST /2018-06-01/runtime/invocation/r-1/error HTTP/1.1\r\n\
              Content-Length: 13\r\n\r\n{\"error\":\"x\"}",
            false,
        );
        api.ready(Duration::from_secs(5), || false).unwrap();
        let answer = api
            .invoke("r-1", b"{}".to_vec(), Duration::from_secs(5))
            .unwrap();
        function.join().unwrap();
        assert!(!answer.ok);
        assert_eq!(answer.body, b"{\"error\":\"x\"}");
    }

    #[test]
    fn a_process_that_never_asks_is_reported() {
        let api = RuntimeApi::start(ARN).unwrap();
        let error = api.ready(Duration::from_millis(200), || true).unwrap_err();
        assert!(error.contains("exited"), "{error}");
    }
}

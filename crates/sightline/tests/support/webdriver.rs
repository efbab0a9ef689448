//! A small W3C WebDriver client for the browser tests: Debian's
//! chromedriver driving headless Chromium (`make test` installs both),
//! spoken to over plain HTTP on loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The id of a web element reference (its one key is the W3C element identifier).
fn element_id(reference: &Value) -> String {
    reference
        .as_object()
        .and_then(|m| m.values().next())
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("not an element reference: {reference}"))
        .to_owned()
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP answer: status, headers (names lowercased) and body.
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One HTTP/1.1 request on loopback; the answer, or `None` when nothing answered.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<HttpReply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    // Read the head, then exactly the body its framing announces: chromedriver
    // keeps the connection open whatever the request asked.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let split = loop {
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        while !body.ends_with(b"0\r\n\r\n") {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        body = dechunk(&body);
    } else if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < length {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
    } else if method != "HEAD" {
        stream.read_to_end(&mut body).ok()?;
    }
    Some(HttpReply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// chromedriver and one browser session; both end when dropped.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    pub downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Self {
        let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("chromedriver is missing: `make test` installs Debian's chromium and chromium-driver");
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let started = Instant::now();
        while http(port, "GET", "/status", &[], "").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let downloads = tempfile::tempdir().unwrap();
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,1000", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path().display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        }}});
        let mut browser = Self {
            driver,
            port,
            session: String::new(),
            downloads,
            _profile: profile,
        };
        let created = browser.call("POST", "/session", caps);
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        let dir = browser.downloads.path().display().to_string();
        browser.call_session(
            "POST",
            "/goog/cdp/execute",
            json!({ "cmd": "Browser.setDownloadBehavior", "params": { "behavior": "allow", "downloadPath": dir } }),
        );
        browser
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let HttpReply {
            status,
            body: bytes,
            ..
        } = http(
            self.port,
            method,
            path,
            &[("content-type", "application/json; charset=utf-8")],
            &text,
        )
        .unwrap_or_else(|| panic!("chromedriver did not answer {method} {path}"));
        let reply: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert!(status < 400, "{method} {path} {text}: {status} {reply}");
        reply["value"].clone()
    }

    fn call_session(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.call_session("POST", "/url", json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.call_session("GET", "/url", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn source(&self) -> String {
        self.call_session("GET", "/source", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The first element matching `css`, or a panic naming the page.
    pub fn find(&self, css: &str) -> Element<'_> {
        let started = Instant::now();
        loop {
            let found = self.call_session(
                "POST",
                "/elements",
                json!({ "using": "css selector", "value": css }),
            );
            if let Some(first) = found.as_array().and_then(|a| a.first()) {
                return Element {
                    browser: self,
                    id: element_id(first),
                };
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no element {css:?} on {}:\n{}",
                self.url(),
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn text(&self, css: &str) -> String {
        let found = self.call_session(
            "POST",
            "/elements",
            json!({ "using": "css selector", "value": css }),
        );
        found
            .as_array()
            .and_then(|a| a.first())
            .map(|e| {
                self.call_session(
                    "GET",
                    &format!("/element/{}/text", element_id(e)),
                    Value::Null,
                )
                .as_str()
                .unwrap_or_default()
                .to_owned()
            })
            .unwrap_or_default()
    }

    /// Run a script in the page (through DevTools: the page's CSP does not apply).
    pub fn script(&self, script: &str) -> Value {
        self.call_session(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    /// Save a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let data = self.call_session("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }

    /// The file named `name` once the browser has finished downloading it.
    ///
    /// Chromium reserves the final name with an empty placeholder as soon as a
    /// download starts and writes into `*.crdownload` beside it, renaming that
    /// over the placeholder at the end. So "the path exists" is not "the file
    /// is there": wait until no `.crdownload` is left and the file has content
    /// (every download these tests make is non-empty).
    pub fn downloaded(&self, name: &str) -> PathBuf {
        let path = self.downloads.path().join(name);
        let started = Instant::now();
        loop {
            let present: Vec<String> = std::fs::read_dir(self.downloads.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            let in_progress = present.iter().any(|f| f.ends_with(".crdownload"));
            let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if !in_progress && size > 0 {
                return path;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{name} was not downloaded ({size} bytes so far); the folder holds {present:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session),
                &[],
                "",
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    /// Click something that loads a new page (a submit button, a link) and
    /// wait until the new page has loaded.
    pub fn click_to_load(&self) {
        self.browser.script("window.__sightlineOldPage = true;");
        self.click();
        let started = Instant::now();
        loop {
            let loaded = self.browser.script(
                "return window.__sightlineOldPage === undefined && document.readyState === 'complete';",
            );
            if loaded == Value::Bool(true) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no new page loaded"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn click(&self) {
        self.browser
            .call_session("POST", &format!("/element/{}/click", self.id), json!({}));
    }

    pub fn fill(&self, text: &str) {
        self.browser
            .call_session("POST", &format!("/element/{}/clear", self.id), json!({}));
        self.browser.call_session(
            "POST",
            &format!("/element/{}/value", self.id),
            json!({ "text": text }),
        );
    }

    pub fn text(&self) -> String {
        self.browser
            .call_session("GET", &format!("/element/{}/text", self.id), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn attribute(&self, name: &str) -> String {
        self.browser
            .call_session(
                "GET",
                &format!("/element/{}/attribute/{name}", self.id),
                Value::Null,
            )
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

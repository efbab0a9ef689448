//! The real server on a real listener, for tests that need real parallel
//! requests: `app(state)` served by axum on 127.0.0.1 from a runtime of its
//! own (its own threads, its own connections as `sightline_app`), and a
//! small HTTP/1.1 client that sends each request on its own connection.

#![allow(dead_code)]

use std::net::SocketAddr;

use sightline_store::Store;
use sightline_web::{app, AppState, Config};
use sqlx::postgres::PgPoolOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server running on its own threads until the test process ends.
pub struct Live {
    pub addr: SocketAddr,
    /// With `worker_threads` 0: the one thread every async task runs on.
    pub async_thread: Option<u32>,
}

/// CPU time a thread of this process has used so far, in clock ticks
/// (user and system), from `/proc`.
pub fn thread_cpu_ticks(tid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// This thread's id, for `thread_cpu_ticks`.
pub fn this_thread() -> u32 {
    std::fs::read_link("/proc/thread-self")
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .parse()
        .unwrap()
}

/// Serve `config` over the database of `admin` as `sightline_app`, on a
/// runtime with `worker_threads` async threads, or with 0 on a runtime whose
/// every async task runs on one thread (`Live::async_thread`).
pub async fn serve(admin: &sqlx::PgPool, mut config: Config, worker_threads: usize) -> Live {
    let app_url = super::url_as(admin, "sightline_app").await;
    let console_url = super::url_as(admin, "sightline_console").await;
    config.console = None;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tid_tx.send(this_thread());
        let runtime = match worker_threads {
            0 => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            n => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(n)
                .enable_all()
                .build()
                .unwrap(),
        };
        runtime.block_on(async move {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .connect(&app_url)
                .await
                .unwrap();
            config.console =
                Some(sightline_store::console::ConsolePool::connect_lazy(&console_url).unwrap());
            let state = AppState::new(Store { pool }, config);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(
                listener,
                app(state).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
    });
    let tid = tid_rx.recv().unwrap();
    Live {
        addr,
        async_thread: (worker_threads == 0).then_some(tid),
    }
}

/// An HTTP answer: status, headers (names lowercased) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl Live {
    /// One request on its own connection.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
            .collect();
        Answer {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    /// `POST /api/v1/session` with this e-mail and password (and more fields).
    pub async fn sign_in(&self, email: &str, password: &str, extra: serde_json::Value) -> Answer {
        let mut body = serde_json::json!({ "email": email, "password": password });
        if let serde_json::Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        self.send(
            "POST",
            "/api/v1/session",
            &[("content-type", "application/json")],
            &body.to_string(),
        )
        .await
    }
}

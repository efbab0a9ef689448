//! `sightline healthcheck`: the container's own health check (the image has
//! no shell or curl). GET a loopback URL; exit 0 on 200, 1 otherwise.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// `http://host:port/path` → (host:port, path). Only plain HTTP on loopback.
fn split(url: &str) -> Result<(String, String)> {
    let rest = url.strip_prefix("http://").with_context(|| {
        format!("expected a URL like http://127.0.0.1:8080/healthz, found {url:?}")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    if !["127.0.0.1", "localhost", "[::1]"].contains(&host) {
        bail!("the health check only asks this machine: expected 127.0.0.1, localhost or [::1], found {host:?}");
    }
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_owned()))
}

pub fn run(url: &str) -> Result<ExitCode> {
    let (authority, path) = split(url)?;
    let address = authority
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {authority}"))?
        .next()
        .with_context(|| format!("no address for {authority}"))?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3))
        .with_context(|| format!("nothing answers on {authority}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    // One write: a request line split over several segments is legal, but
    // some minimal servers read only the first.
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    let status = line.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(ExitCode::SUCCESS)
    } else {
        bail!(
            "{url} answered {:?}, expected 200",
            line.lines().next().unwrap_or("")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_urls_are_accepted() {
        assert_eq!(
            split("http://127.0.0.1:8080/healthz").unwrap(),
            ("127.0.0.1:8080".into(), "/healthz".into())
        );
        assert_eq!(
            split("http://localhost").unwrap(),
            ("localhost:80".into(), "/".into())
        );
        assert!(split("https://127.0.0.1/healthz").is_err());
        assert!(split("http://10.0.0.1:8080/healthz")
            .unwrap_err()
            .to_string()
            .contains("only asks this machine"));
    }
}

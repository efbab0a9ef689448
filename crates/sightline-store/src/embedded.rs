//! A private PostgreSQL for `sightline demo` and for tests that must stop or
//! restart a server: initdb into a directory, started with pg_ctl on a free
//! loopback port with its socket in that directory. initdb refuses to run as
//! root, so as root the server runs as the `postgres` system user.

use std::path::{Path, PathBuf};
use std::process::Command;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EmbeddedError {
    #[error("no PostgreSQL server binaries found (expected initdb under /usr/lib/postgresql/*/bin or on PATH): install the postgresql package")]
    NoBinaries,
    #[error("{command} failed: {output}")]
    Command { command: String, output: String },
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub struct EmbeddedPostgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

fn bin_dir() -> Result<PathBuf, EmbeddedError> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    if let Some(best) = candidates.pop() {
        return Ok(best);
    }
    let on_path = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .ok()
        .filter(|o| o.status.success());
    on_path
        .and_then(|o| {
            Path::new(String::from_utf8_lossy(&o.stdout).trim())
                .parent()
                .map(Path::to_path_buf)
        })
        .ok_or(EmbeddedError::NoBinaries)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

fn free_port() -> Result<u16, EmbeddedError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| EmbeddedError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })?;
    Ok(listener
        .local_addr()
        .map_err(|source| EmbeddedError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })?
        .port())
}

impl EmbeddedPostgres {
    /// Start a server whose data lives in `dir` (created and initialised if
    /// new, reused otherwise).
    pub fn start(dir: &Path) -> Result<Self, EmbeddedError> {
        std::fs::create_dir_all(dir).map_err(|source| EmbeddedError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let dir = dir.canonicalize().map_err(|source| EmbeddedError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let server = Self {
            bin: bin_dir()?,
            port: free_port()?,
            dir,
        };
        if is_root() {
            server.run_plain(
                "chown",
                &["-R", "postgres:postgres", &server.dir.display().to_string()],
            )?;
        }
        if !server.data().join("PG_VERSION").exists() {
            server.as_owner(&format!(
                "{}/initdb -D {} -A trust -U postgres --no-sync",
                server.bin.display(),
                server.data().display()
            ))?;
        }
        server.pg_ctl("start")?;
        Ok(server)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn run_plain(&self, program: &str, args: &[&str]) -> Result<(), EmbeddedError> {
        let out = Command::new(program)
            .args(args)
            .output()
            .map_err(|source| EmbeddedError::Io {
                path: program.into(),
                source,
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(EmbeddedError::Command {
                command: program.into(),
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }

    fn as_owner(&self, command: &str) -> Result<(), EmbeddedError> {
        let out = if is_root() {
            Command::new("su")
                .args(["postgres", "-s", "/bin/sh", "-c", command])
                .output()
        } else {
            Command::new("sh").args(["-c", command]).output()
        }
        .map_err(|source| EmbeddedError::Io {
            path: command.into(),
            source,
        })?;
        if out.status.success() {
            Ok(())
        } else {
            let output = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            Err(EmbeddedError::Command {
                command: command.into(),
                output,
            })
        }
    }

    fn pg_ctl(&self, action: &str) -> Result<(), EmbeddedError> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        self.as_owner(&format!(
            "{}/pg_ctl -D {} -l {}/server.log -o '{options}' -w -m fast {action}",
            self.bin.display(),
            self.data().display(),
            self.dir.display()
        ))
    }

    pub fn restart(&self) -> Result<(), EmbeddedError> {
        self.pg_ctl("restart")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        let command = format!(
            "{}/pg_ctl -D {} -w -m fast stop",
            self.bin.display(),
            self.data().display()
        );
        if let Err(e) = self.as_owner(&command) {
            tracing::warn!(error = %e, "could not stop the private PostgreSQL");
        }
    }
}

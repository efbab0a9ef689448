//! A private PostgreSQL server for tests that must stop or restart it:
//! initdb into a temporary directory, started with pg_ctl on a free
//! loopback port. initdb refuses to run as root, so as root it runs as the
//! `postgres` system user.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

fn bin_dir() -> PathBuf {
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
    candidates
        .pop()
        .expect("PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Self {
            bin: bin_dir(),
            port: free_port(),
            dir,
        };
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(server.dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = server.data();
        server.as_owner(&format!(
            "{}/initdb -D {} -A trust -U postgres --no-sync",
            server.bin.display(),
            data.display()
        ));
        server.pg_ctl("start");
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_owner(&self, command: &str) {
        let out = if is_root() {
            Command::new("su")
                .args(["postgres", "-s", "/bin/sh", "-c", command])
                .output()
        } else {
            Command::new("sh").args(["-c", command]).output()
        }
        .expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{command}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.as_owner(&format!(
            "{}/pg_ctl -D {} -l {} -o '{options}' -w -m fast {action}",
            self.bin.display(),
            self.data().display(),
            log_path(self.dir.path()).display()
        ));
    }

    pub fn restart(&self) {
        self.pg_ctl("restart");
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join("server.log")
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let command = format!(
            "{}/pg_ctl -D {} -w -m immediate stop",
            self.bin.display(),
            self.data().display()
        );
        let _ = if is_root() {
            Command::new("su")
                .args(["postgres", "-s", "/bin/sh", "-c", &command])
                .output()
        } else {
            Command::new("sh").args(["-c", &command]).output()
        };
    }
}

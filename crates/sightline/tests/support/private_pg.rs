//! A private PostgreSQL in a temporary directory, for tests that restart it.

pub struct PrivatePostgres {
    server: sightline_store::embedded::EmbeddedPostgres,
    _dir: tempfile::TempDir,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = sightline_store::embedded::EmbeddedPostgres::start(dir.path())
            .expect("start a private PostgreSQL");
        Self { server, _dir: dir }
    }

    pub fn restart(&self) {
        self.server.restart().expect("restart PostgreSQL");
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn port(&self) -> u16 {
        self.server.port
    }
}

/// A private server set up like Aurora in the stack: TLS only, SCRAM
/// passwords over TCP (trust only on its own socket), every statement logged.
pub struct TlsPostgres {
    pub pg: PrivatePostgres,
    /// The CA that signed the server's certificate (for `localhost` only).
    pub ca: std::path::PathBuf,
    /// Another CA, which signed nothing the server holds.
    pub other_ca: std::path::PathBuf,
}

impl PrivatePostgres {
    fn data(&self) -> std::path::PathBuf {
        self._dir.path().join("data")
    }

    /// The server's statement log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("server.log")).unwrap_or_default()
    }

    /// Start a server as `TlsPostgres` describes, its owner `postgres` with `owner_password`.
    pub fn start_tls(owner_password: &str) -> TlsPostgres {
        let pg = Self::start();
        let tls = tempfile::tempdir().expect("temp dir").keep();
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(&tls)
                .output()
                .expect("openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        for ca in ["ca", "other-ca"] {
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=Sightline test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
            ]);
        }
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(tls.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ]);
        let data = pg.data();
        for f in ["server.crt", "server.key"] {
            std::fs::copy(tls.join(f), data.join(f)).unwrap();
        }
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        let as_postgres = |cmd: &str| {
            let ok = std::process::Command::new("sh")
                .args(["-c", &format!("if [ \"$(id -u)\" = 0 ]; then {cmd}; fi")])
                .status()
                .unwrap()
                .success();
            assert!(ok, "{cmd}");
        };
        as_postgres(&format!(
            "chown postgres:postgres {0}/server.crt {0}/server.key {0}/pg_hba.conf",
            data.display()
        ));
        std::fs::set_permissions(
            data.join("server.key"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let url = pg.url();
        for statement in [
            "CREATE DATABASE sightline".to_owned(),
            "ALTER SYSTEM SET ssl = on".to_owned(),
            "ALTER SYSTEM SET password_encryption = 'scram-sha-256'".to_owned(),
            "ALTER SYSTEM SET log_statement = 'all'".to_owned(),
            format!("ALTER ROLE postgres PASSWORD '{owner_password}'"),
        ] {
            super::db::execute(&url, &statement);
        }
        pg.restart();
        TlsPostgres {
            pg,
            ca: tls.join("ca.crt"),
            other_ca: tls.join("other-ca.crt"),
        }
    }
}

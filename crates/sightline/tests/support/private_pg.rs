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
}

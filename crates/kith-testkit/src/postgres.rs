//! A throwaway PostgreSQL server for the tests: `initdb` into a temporary
//! directory and `postgres` on a free port of 127.0.0.1, killed when
//! dropped. The binaries come from the Debian `postgresql` package that
//! `cargo xtask setup` installs; as root the server runs as the
//! `postgres` user (PostgreSQL refuses to run as root).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running throwaway server.
pub struct Postgres {
    child: Child,
    port: u16,
    data: PathBuf,
    bin: PathBuf,
    user: Option<(u32, u32)>,
    durable: bool,
    _dir: tempfile::TempDir,
}

/// The newest installed PostgreSQL's `bin` directory.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|bin| bin.join("initdb").is_file());
    versions.sort();
    versions
        .pop()
        .expect("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run `cargo xtask setup`")
}

/// The uid and gid of the `postgres` user, when this process is root.
fn run_as() -> Option<(u32, u32)> {
    if std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .ok()?
        != 0
    {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|line| line.starts_with("postgres:"))?;
    let mut fields = line.split(':').skip(2);
    Some((fields.next()?.parse().ok()?, fields.next()?.parse().ok()?))
}

fn command(program: PathBuf, user: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(bin: &std::path::Path, user: Option<(u32, u32)>, data: &std::path::Path, port: u16, durable: bool) -> Child {
    // A throwaway server for tests needs no fsync; a benchmark compared
    // with SQLite's durable commits keeps PostgreSQL's.
    let fsync = if durable { "fsync=on" } else { "fsync=off" };
    command(bin.join("postgres"), user)
        .arg("-D")
        .arg(data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(data)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            fsync,
            "-c",
            "max_connections=200",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

impl Postgres {
    /// Creates a cluster and starts it without fsync (nothing of a test
    /// outlives it); waits until it accepts connections.
    pub fn start() -> Postgres {
        Postgres::start_with(false)
    }

    /// [`Postgres::start`] with every commit flushed to disk, as a real
    /// deployment runs (for benchmarks beside SQLite's durable commits).
    pub fn start_durable() -> Postgres {
        Postgres::start_with(true)
    }

    fn start_with(durable: bool) -> Postgres {
        let bin = bin_dir();
        let user = run_as();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if let Some((uid, gid)) = user {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();
        }
        let init = command(bin.join("initdb"), user)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let port = free_port();
        let child = spawn(&bin, user, &data, port, durable);
        let server = Postgres {
            child,
            port,
            data,
            bin,
            user,
            durable,
            _dir: dir,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.try_sql("postgres", "SELECT 1") {
            assert!(Instant::now() < deadline, "PostgreSQL did not start within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (a fast shutdown: every connection is cut) and
    /// starts it again on the same port and data.
    pub fn restart(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        self.child = spawn(&self.bin, self.user, &self.data, self.port, self.durable);
        self.wait_ready();
    }

    /// The postmaster's process id (its backends are its children).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name`; returns its URL.
    pub fn new_database(&self, name: &str) -> String {
        assert!(
            self.try_sql("postgres", &format!("CREATE DATABASE {name}")),
            "creating {name}"
        );
        self.url(name)
    }

    /// Runs `sql` in the database at `url`.
    pub fn sql(&self, url: &str, sql: &str) {
        let name = url.rsplit('/').next().unwrap();
        assert!(self.try_sql(name, sql), "{sql}");
    }

    fn try_sql(&self, database: &str, sql: &str) -> bool {
        Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

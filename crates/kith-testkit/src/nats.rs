//! A throwaway `nats-server` (the Debian package `cargo xtask setup`
//! installs) on a free port of 127.0.0.1, killed when dropped; it can be
//! stopped and started again on the same port (NATS going down).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) throwaway NATS server.
pub struct Nats {
    child: Option<Child>,
    port: u16,
}

impl Nats {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> Nats {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut nats = Nats { child: None, port };
        nats.resume();
        nats
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its clients see it go away).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn resume(&mut self) {
        let program = ["nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| Command::new(p).arg("--version").output().is_ok())
            .expect("nats-server is not installed: run `cargo xtask setup`");
        let child = Command::new(program)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start within 15 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

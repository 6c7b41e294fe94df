//! The demo binary as a process on 127.0.0.1, and an HTTP/1.1 client whose connections
//! come from an address of the test's choosing.
//!
//! The binary is `$DEMO_BIN`, else the one cargo built for these tests, so that the same
//! tests run against another build of the demo (an older one, say).
//!
//! A simulated client is a source address in 127.0.0.0/8: Linux routes the whole block
//! to the loopback interface, so a socket bound to 127.3.0.7 reaches the demo on
//! 127.0.0.1 with that address. Where that is not possible (macOS has only 127.0.0.1),
//! or with `DEMO_TEST_CLIENTS=xff`, the client's address travels in `X-Forwarded-For`
//! instead and the demo is started with `DEMO_TRUST_X_FORWARDED_FOR=1`.
#![allow(dead_code)] // each test file uses a part of it

mod client;
mod flood;

#[allow(unused_imports)] // each test file uses a part of it
pub use client::{Client, Response, page_conference};
#[allow(unused_imports)]
pub use flood::{login_many, pipelined_attempts};

use std::{
    io::Read,
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use http::{Method, StatusCode};

/// The session cookie's name.
pub const COOKIE: &str = "__Host-demo_session";

/// The demo binary under test.
pub fn binary() -> String {
    std::env::var("DEMO_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_demo").to_owned())
}

/// How simulated clients get their addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMode {
    /// A socket bound to the client's own address in 127.0.0.0/8.
    SourceAddress,
    /// `X-Forwarded-For`, trusted by the demo.
    ForwardedFor,
}

pub fn client_mode() -> ClientMode {
    static MODE: OnceLock<ClientMode> = OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("DEMO_TEST_CLIENTS").as_deref() {
        Ok("xff") => ClientMode::ForwardedFor,
        _ if std::net::TcpListener::bind("127.0.0.2:0").is_ok() => ClientMode::SourceAddress,
        _ => ClientMode::ForwardedFor,
    })
}

/// The address of simulated client `n` (0 to 16 million): 127.a.b.c, never 127.0.0.1,
/// with a, b and c in 1..=250.
pub fn client_ip(n: u32) -> IpAddr {
    let (c, rest) = (n % 250, n / 250);
    let (b, a) = (rest % 250, rest / 250);
    assert!(a < 250, "client {n} is beyond the simulated range");
    IpAddr::V4(Ipv4Addr::new(127, 1 + a as u8, 1 + b as u8, 1 + c as u8))
}

/// A running demo, killed when dropped.
pub struct Demo {
    child: Child,
    pub addr: SocketAddr,
    output: Arc<Mutex<String>>,
}

impl Demo {
    /// Starts the demo on a free port of 127.0.0.1 with `env` (and the environment of
    /// the test), and waits at most 20 s until it answers.
    pub async fn start(env: &[(&str, &str)]) -> Demo {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut command = Command::new(binary());
        command
            .env("BIND", addr.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if client_mode() == ClientMode::ForwardedFor {
            command.env("DEMO_TRUST_X_FORWARDED_FOR", "1");
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary()));
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || drain(stream, &output));
        }
        let demo = Demo { child, addr, output };
        demo.wait_until_up().await;
        demo
    }

    async fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for _ in 0..200 {
            if let Ok(mut client) = Client::open(self.addr, None).await
                && let Ok(response) = client
                    .try_send(client.request(Method::GET, "/.well-known/jwks.json"))
                    .await
                && response.status == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not answer within 20 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the demo did not answer:\n{}", self.log());
    }

    /// What the demo printed so far.
    pub fn log(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Whether the demo printed `needle`, waiting a little for it: a line the demo wrote
    /// before it answered may not have reached the test's reader yet (at most 200
    /// looks, 25 ms apart).
    pub async fn printed(&self, needle: &str) -> bool {
        for _ in 0..200 {
            if self.log().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }

    /// A client connecting from 127.0.0.1 (no simulated address).
    pub async fn client(&self) -> Client {
        Client::connect(self, None).await
    }

    /// A client connecting as simulated client `n` (see [`client_ip`]).
    pub async fn client_as(&self, n: u32) -> Client {
        Client::connect(self, Some(client_ip(n))).await
    }

    /// A client connecting as simulated client `n`, logged in as `name` (`200`).
    pub async fn logged_in(&self, n: u32, name: &str) -> Client {
        let mut client = self.client_as(n).await;
        let login = client.login(name).await;
        assert_eq!(login.status, OK, "login of {name}: {}", login.text());
        client
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn drain(mut stream: Box<dyn Read + Send>, output: &Mutex<String>) {
    let mut buffer = [0u8; 8192];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 {
            break;
        }
        output.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
}

pub const OK: u16 = StatusCode::OK.as_u16();

/// Whether `id` is a call of `room` by the rule of the demo's `per-call` mode, written
/// out: `<room>-<YYYYMMDDTHHMMZ>-<6 lowercase hex digits>`.
pub fn is_call_of(id: &str, room: &str) -> bool {
    let Some(suffix) = id.strip_prefix(room).and_then(|s| s.strip_prefix('-')) else {
        return false;
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    // 8 digits, T, 4 digits, Z, -, 6 hex digits.
    suffix.len() == 21
        && suffix.is_ascii()
        && digits(&suffix[..8])
        && &suffix[8..9] == "T"
        && digits(&suffix[9..13])
        && &suffix[13..15] == "Z-"
        && hex(&suffix[15..])
}

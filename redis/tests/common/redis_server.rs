//! A throwaway `redis-server` for tests: the unit tests of the crate (`src/lib.rs`
//! includes this file with `#[path]`) and the integration tests in `tests/` (through
//! `common/mod.rs`).
//!
//! Starts `redis-server` on a port of 127.0.0.1 with persistence off, waits for `PING`, and
//! kills it on drop. When the binary is missing, [`RedisServer::start`] prints why and
//! returns `None` so the test can return early; under CI (`CI` set) a missing binary is a
//! failure instead, so that a CI without `redis-server` cannot pass without running these
//! tests. `REDIS_SERVER` overrides the binary's path.
//!
//! [`RedisServer::command`] talks RESP to the server itself (no client library), so what
//! a test reads back from Redis does not go through the code under test.
#![allow(dead_code)]

use std::{
    io::{self, BufRead, BufReader, Write},
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// A running `redis-server`, killed on drop.
pub(crate) struct RedisServer {
    binary: PathBuf,
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

/// A RESP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// The `redis-server` binary, or `None` after saying why (a panic under CI).
pub(crate) fn find_binary() -> Option<PathBuf> {
    let found = match std::env::var_os("REDIS_SERVER") {
        // Set: the only candidate (so that a wrong path is reported, not papered over).
        Some(path) => Some(PathBuf::from(path)).filter(|path| path.is_file()),
        None => {
            let mut candidates = vec![PathBuf::from("/usr/bin/redis-server")];
            if let Some(path) = std::env::var_os("PATH") {
                candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("redis-server")));
            }
            candidates.into_iter().find(|path| path.is_file())
        }
    };
    if found.is_none() {
        let message = "redis-server not found (REDIS_SERVER, else /usr/bin/redis-server or PATH): \
                       install the Debian package `redis-server` to run this test";
        if std::env::var_os("CI").is_some() {
            panic!("{message}");
        }
        eprintln!("SKIPPED: {message}");
    }
    found
}

/// A port of 127.0.0.1 that was free a moment ago (bind port 0, read it, close it).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl RedisServer {
    /// Starts a server on a free port, or says why not and returns `None` (a failure under CI).
    pub(crate) fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with extra `redis-server` arguments (`--maxmemory 2mb`, ...).
    pub(crate) fn start_with(args: &[&str]) -> Option<Self> {
        let binary = find_binary()?;
        let mut last_error = None;
        for _ in 0..5 {
            let mut server = Self::new(binary.clone(), free_port(), args);
            match server.spawn() {
                Ok(()) => return Some(server),
                Err(error) => last_error = Some(error), // the port was taken meanwhile: another
            }
        }
        panic!("redis-server at {} did not start: {last_error:?}", binary.display());
    }

    /// A server for `port` that is not running yet: [`restart`](Self::restart) starts it.
    pub(crate) fn not_started(port: u16) -> Option<Self> {
        Some(Self::new(find_binary()?, port, &[]))
    }

    fn new(binary: PathBuf, port: u16, args: &[&str]) -> Self {
        Self {
            binary,
            port,
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            child: None,
        }
    }

    fn spawn(&mut self) -> io::Result<()> {
        let port = self.port.to_string();
        let mut child = Command::new(&self.binary)
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Reply::Simple(pong)) = self.command(&[b"PING"]) {
                // The server that answers must be this child, not another test's server
                // that took the port meanwhile (`INFO server` names its process).
                if pong == "PONG" && self.is_process(child.id()) {
                    self.child = Some(child);
                    return Ok(());
                }
            }
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!("redis-server exited: {status}")));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other("redis-server did not answer PING within 10 s"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server on the port is the process `pid`.
    fn is_process(&self, pid: u32) -> bool {
        self.info("server", "process_id").as_deref() == Some(pid.to_string().as_str())
    }

    /// `redis://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The server's process ID.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server with `kill(1)`.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Pauses the server (SIGSTOP: the process stops, its sockets stay open, the kernel
    /// still accepts connections) until the guard drops (SIGCONT).
    pub(crate) fn pause(&self) -> Paused<'_> {
        self.signal("STOP");
        Paused(self)
    }

    /// Kills the server (SIGKILL: like a crash; also a stopped one) and waits for it to exit.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on its port, with its arguments: empty, persistence is off.
    pub(crate) fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(error) if Instant::now() > deadline => panic!("redis-server did not start: {error}"),
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Sends one command (each argument a binary-safe bulk string) on a new connection
    /// and returns the reply.
    pub(crate) fn command(&self, args: &[&[u8]]) -> io::Result<Reply> {
        command(self.port, args)
    }

    /// A field of `INFO <section>`.
    pub(crate) fn info(&self, section: &str, field: &str) -> Option<String> {
        let Ok(Reply::Bulk(Some(info))) = self.command(&[b"INFO", section.as_bytes()]) else {
            return None;
        };
        let prefix = format!("{field}:");
        String::from_utf8_lossy(&info)
            .lines()
            .find_map(|line| line.strip_prefix(&prefix).map(|value| value.trim_end().to_owned()))
    }

    /// How many times Redis ran `command` (lowercase: `get`, `evalsha`), from its own
    /// `INFO commandstats` (`calls=`; 0 if never run).
    pub(crate) fn command_calls(&self, command: &str) -> u64 {
        self.info("commandstats", &format!("cmdstat_{command}"))
            .map_or(0, |stats| {
                stats["calls=".len()..].split(',').next().unwrap().parse().unwrap()
            })
    }
}

/// A paused server; dropping it lets the server go on.
pub(crate) struct Paused<'a>(&'a RedisServer);

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.0.signal("CONT");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends one command to the Redis on `port` of 127.0.0.1 and returns the reply.
pub(crate) fn command(port: u16, args: &[&[u8]]) -> io::Result<Reply> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg);
        request.extend_from_slice(b"\r\n");
    }
    stream.write_all(&request)?;
    read_reply(&mut BufReader::new(stream))
}

fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end_matches("\r\n");
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, format!("bad reply line {line:?}"));
    let (kind, rest) = line.split_at_checked(1).ok_or_else(invalid)?;
    match kind {
        "+" => Ok(Reply::Simple(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => Ok(Reply::Int(rest.parse().map_err(|_| invalid())?)),
        "$" => {
            let len: i64 = rest.parse().map_err(|_| invalid())?;
            if len < 0 {
                return Ok(Reply::Bulk(None));
            }
            let mut data = vec![0; usize::try_from(len).map_err(|_| invalid())? + 2];
            reader.read_exact(&mut data)?;
            data.truncate(data.len() - 2);
            Ok(Reply::Bulk(Some(data)))
        }
        "*" => {
            let len: i64 = rest.parse().map_err(|_| invalid())?;
            if len < 0 {
                return Ok(Reply::Array(None));
            }
            (0..len)
                .map(|_| read_reply(reader))
                .collect::<io::Result<_>>()
                .map(|items| Reply::Array(Some(items)))
        }
        _ => Err(invalid()),
    }
}

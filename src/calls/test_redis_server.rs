//! A throwaway `redis-server` for tests: the unit tests of `calls::redis` and
//! `tests/calls_redis.rs` (which includes this file with `#[path]`).
//!
//! Starts `redis-server` on a free loopback port with persistence off, waits for `PING`,
//! and kills it on drop. When the binary is missing, [`RedisServer::start`] prints why and
//! returns `None` so the test can return early; under CI (`CI` set) a missing binary is a
//! failure instead, so that a CI without `redis-server` cannot pass without running
//! these tests. `REDIS_SERVER` overrides the binary's path.
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

fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("REDIS_SERVER") {
        // Set: the only candidate (so that a wrong path is reported, not papered over).
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let mut candidates = vec![PathBuf::from("/usr/bin/redis-server")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("redis-server")));
    }
    candidates.into_iter().find(|path| path.is_file())
}

fn free_port() -> io::Result<u16> {
    // Bind port 0, read the port the kernel chose, close it: free for redis to take
    // (redis cannot listen on port 0 itself).
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

impl RedisServer {
    /// Starts a server, or says why not and returns `None` (a failure under CI).
    pub(crate) fn start() -> Option<Self> {
        let Some(binary) = find_binary() else {
            let message = "redis-server not found (REDIS_SERVER, else /usr/bin/redis-server or PATH): \
                           install the Debian package `redis-server` to run this test";
            if std::env::var_os("CI").is_some() {
                panic!("{message}");
            }
            eprintln!("SKIPPED: {message}");
            return None;
        };
        let mut last_error = None;
        for _ in 0..5 {
            let port = match free_port() {
                Ok(port) => port,
                Err(error) => {
                    last_error = Some(error);
                    continue;
                }
            };
            let mut server = Self {
                binary: binary.clone(),
                port,
                child: None,
            };
            match server.spawn() {
                Ok(()) => return Some(server),
                Err(error) => last_error = Some(error), // the port was taken meanwhile: another
            }
        }
        panic!("redis-server at {} did not start: {last_error:?}", binary.display());
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
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Reply::Simple(pong)) = self.command(&[b"PING"]) {
                if pong == "PONG" {
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

    /// `redis://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL: like a crash) and waits for it to exit.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: persistence is off).
    pub(crate) fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(error) if Instant::now() > deadline => panic!("redis-server did not restart: {error}"),
                Err(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Sends one command (each argument a binary-safe bulk string) on a new connection
    /// and returns the reply.
    pub(crate) fn command(&self, args: &[&[u8]]) -> io::Result<Reply> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))?;
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
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
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

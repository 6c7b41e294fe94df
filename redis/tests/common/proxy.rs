//! A TCP proxy on 127.0.0.1 between a client and a server, for a link that goes silent:
//! [`Proxy::silence`] stops forwarding every connection accepted so far, in both
//! directions, without closing it (as a NAT or a firewall that dropped the connection's
//! state does); connections accepted later are forwarded. Counts the connections it
//! accepted. Its tasks end when it drops.
#![allow(dead_code)]

use std::{
    net::Ipv4Addr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    task::AbortHandle,
};

/// The proxy; dropping it ends its tasks and closes its connections.
pub struct Proxy {
    port: u16,
    accepted: Arc<AtomicUsize>,
    silenced_up_to: Arc<AtomicUsize>,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    /// A proxy to the server on `target_port` of 127.0.0.1.
    pub async fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let silenced_up_to = Arc::new(AtomicUsize::new(0));
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let accept = tokio::spawn({
            let (accepted, silenced_up_to, tasks) = (accepted.clone(), silenced_up_to.clone(), tasks.clone());
            async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        return;
                    };
                    let id = accepted.fetch_add(1, Ordering::SeqCst) + 1;
                    let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, target_port)).await else {
                        continue;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let mut tasks = tasks.lock().unwrap();
                    for (from, to) in [(client_read, server_write), (server_read, client_write)] {
                        let silenced_up_to = silenced_up_to.clone();
                        tasks.push(tokio::spawn(pipe(from, to, id, silenced_up_to)).abort_handle());
                    }
                }
            }
        });
        tasks.lock().unwrap().push(accept.abort_handle());
        Self {
            port,
            accepted,
            silenced_up_to,
            tasks,
        }
    }

    /// `redis://127.0.0.1:<proxy port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// How many connections the proxy accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops forwarding every connection accepted so far (they stay open).
    pub fn silence(&self) {
        self.silenced_up_to.store(self.accepted(), Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// Copies `from` to `to` until either closes, or for ever without copying once the
/// connection `id` is silenced (holding both open).
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, id: usize, silenced_up_to: Arc<AtomicUsize>) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if id <= silenced_up_to.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

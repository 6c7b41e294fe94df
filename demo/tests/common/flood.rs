//! Many simulated clients at once: logins, and pipelined login attempts.

use std::{
    net::{IpAddr, SocketAddr},
    ops::Range,
};

use tokio::net::TcpSocket;

use super::{Client, ClientMode, Demo, client_ip, client_mode};

/// Logs in `logins_each` times as each of the simulated clients `clients`, each login
/// without a cookie (a new browser), on `workers` concurrent connections; returns every
/// answer's status.
pub async fn login_many(demo: &Demo, clients: Range<u32>, logins_each: u32, workers: u32) -> Vec<u16> {
    fan_out(demo, clients, workers, move |addr, n| async move {
        let mut client = Client::open(addr, Some(client_ip(n))).await.expect("a connection");
        let mut statuses = Vec::new();
        for k in 0..logins_each {
            client.cookie = None;
            statuses.push(client.login(&format!("user-{n}-{k}")).await.status);
        }
        statuses
    })
    .await
}

/// `attempts` login attempts as each of the simulated clients `clients`, pipelined on one
/// connection per client (the last with `Connection: close`), on `workers` concurrent
/// connections: `POST /login` without a body, which the demo refuses (`415`) after
/// counting it against the client's rate limit. Returns every answer's status.
pub async fn pipelined_attempts(demo: &Demo, clients: Range<u32>, attempts: u32, workers: u32) -> Vec<u16> {
    fan_out(demo, clients, workers, move |addr, n| {
        pipeline(addr, client_ip(n), attempts)
    })
    .await
}

/// `each(demo's address, n)` for every simulated client `n` of `clients`, the clients
/// split over `workers` concurrent tasks (client `n` on task `n % workers`), one client
/// after another on each; returns every status, task by task.
async fn fan_out<F, Fut>(demo: &Demo, clients: Range<u32>, workers: u32, each: F) -> Vec<u16>
where
    F: Fn(SocketAddr, u32) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Vec<u16>> + Send + 'static,
{
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (addr, clients, each) = (demo.addr, clients.clone(), each.clone());
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in clients.filter(|n| n % workers == worker) {
                statuses.extend(each(addr, n).await);
            }
            statuses
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.extend(task.await.unwrap());
    }
    statuses
}

async fn pipeline(addr: SocketAddr, client: IpAddr, attempts: u32) -> Vec<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = TcpSocket::new_v4().unwrap();
    let forwarded = match client_mode() {
        ClientMode::SourceAddress => {
            socket.bind(SocketAddr::new(client, 0)).unwrap();
            String::new()
        }
        ClientMode::ForwardedFor => format!("X-Forwarded-For: {client}\r\n"),
    };
    let mut stream = socket.connect(addr).await.unwrap();
    let mut requests = String::new();
    for k in 1..=attempts {
        let close = if k == attempts { "Connection: close\r\n" } else { "" };
        requests.push_str(&format!(
            "POST /login HTTP/1.1\r\nHost: {addr}\r\n{forwarded}Content-Length: 0\r\n{close}\r\n"
        ));
    }
    stream.write_all(requests.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    stream.read_to_end(&mut received).await.unwrap();
    // Each answer starts with its status line; the demo's JSON bodies never hold one.
    String::from_utf8_lossy(&received)
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|answer| answer[..3].parse().unwrap())
        .collect()
}

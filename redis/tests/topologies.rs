//! The URL schemes users have, against real servers on 127.0.0.1: a three-node Redis
//! Cluster (`redis-cluster://`: every script touches one key, so it runs in a cluster; rooms
//! spread over the nodes; a room's slot is its own hash tag's) and a Sentinel
//! (`redis-sentinel://`: the primary found through the sentinel). Servers and their files
//! (in a temporary directory) are removed at the end.

mod common;

use std::{
    fs,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{
    call_value, expected_room_key_on, int,
    redis_server::{self, Reply, find_binary, free_port},
    user,
};
use tower_callstats::calls::CallRegistry;
use tower_callstats_redis::RedisRegistry;

/// A directory of its own under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("callstats-redis-{name}-{}-{}", std::process::id(), free_port()));
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A `redis-server` process on `port`, killed on drop.
struct Process {
    child: Child,
    port: u16,
}

impl Process {
    fn spawn(args: &[String], port: u16) -> Self {
        let binary = find_binary().expect("checked by the caller");
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let process = Self { child, port };
        wait_for(Duration::from_secs(10), "PING", || {
            process.command(&[b"PING"]).ok() == Some(Reply::Simple("PONG".into()))
        });
        process
    }

    fn command(&self, args: &[&[u8]]) -> std::io::Result<Reply> {
        redis_server::command(self.port, args)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn node_args(dir: &TempDir, port: u16, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(["--dir".to_owned(), dir.0.display().to_string()]);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// A room's key by the rule written out, the SHA1 computed by Redis (`redis.sha1hex`).
fn room_key(node: &Process, room: &str) -> Vec<u8> {
    expected_room_key_on(node.port, "callstats:call:", room)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_runs_every_script_and_spreads_the_rooms() {
    if find_binary().is_none() {
        return;
    }
    let dir = TempDir::new("cluster");
    let nodes: Vec<Process> = (0..3)
        .map(|i| {
            let port = free_port();
            let file = format!("nodes-{i}.conf");
            Process::spawn(
                &node_args(
                    &dir,
                    port,
                    &["--cluster-enabled", "yes", "--cluster-config-file", &file],
                ),
                port,
            )
        })
        .collect();
    // Slots split in three, the nodes introduced to each other (Redis' CLUSTER commands).
    for (node, (first, last)) in nodes.iter().zip([(0, 5460), (5461, 10922), (10923, 16383)]) {
        let (first, last) = (first.to_string(), last.to_string());
        let reply = node
            .command(&[b"CLUSTER", b"ADDSLOTSRANGE", first.as_bytes(), last.as_bytes()])
            .unwrap();
        assert_eq!(reply, Reply::Simple("OK".into()));
    }
    for other in &nodes[1..] {
        nodes[0]
            .command(&[b"CLUSTER", b"MEET", b"127.0.0.1", other.port.to_string().as_bytes()])
            .unwrap();
    }
    wait_for(Duration::from_secs(20), "cluster_state:ok on every node", || {
        nodes.iter().all(|node| match node.command(&[b"CLUSTER", b"INFO"]) {
            Ok(Reply::Bulk(Some(info))) => {
                let info = String::from_utf8_lossy(&info);
                info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
            }
            _ => false,
        })
    });

    let url = format!(
        "redis-cluster://127.0.0.1:{}?node=127.0.0.1:{}",
        nodes[0].port, nodes[1].port
    );
    let registry = RedisRegistry::from_url(&url).unwrap();
    let alice = user("alice");
    let mut calls = Vec::new();
    for i in 0..30 {
        let room = format!("room-{i}");
        let call = registry.join(&room, &alice).await.unwrap();
        assert_eq!(registry.join(&room, &user("bob")).await.unwrap(), call);
        calls.push((room, call));
    }
    let (room, call) = &calls[0];
    assert!(registry.end_call(room, call.conference_id()).await.unwrap());
    assert!(!registry.end_call(room, call.conference_id()).await.unwrap());
    for (room, call) in &calls[1..] {
        // Where the call is: the node serving the slot Redis computes for the key.
        let key = room_key(&nodes[0], room);
        let holders: Vec<_> = nodes
            .iter()
            .filter(|node| node.command(&[b"GET", &key]).ok() == Some(Reply::Bulk(Some(call_value(call)))))
            .collect();
        assert_eq!(holders.len(), 1, "{room}");
        // The key's slot is its hash tag's: the registry's, not the room's.
        let slot = int(nodes[0].command(&[b"CLUSTER", b"KEYSLOT", &key]).unwrap());
        let tag = &key["callstats:call:{".len()..][..16];
        assert_eq!(slot, int(nodes[0].command(&[b"CLUSTER", b"KEYSLOT", tag]).unwrap()));
    }
    for node in &nodes {
        assert!(int(node.command(&[b"DBSIZE"]).unwrap()) > 0, "a node without rooms");
    }
    // Rooms that name a hash tag still get the registry's: two rooms, two slots.
    let slot = |room: &str| {
        int(nodes[0]
            .command(&[b"CLUSTER", b"KEYSLOT", &room_key(&nodes[0], room)])
            .unwrap())
    };
    assert_ne!(slot("{a}x"), slot("{a}y"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_url_finds_the_primary() {
    if find_binary().is_none() {
        return;
    }
    let dir = TempDir::new("sentinel");
    let primary_port = free_port();
    let primary = Process::spawn(&node_args(&dir, primary_port, &[]), primary_port);
    let sentinel_port = free_port();
    let config = dir.0.join("sentinel.conf");
    fs::write(
        &config,
        format!(
            "port {sentinel_port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {primary_port} 1\n",
            dir.0.display()
        ),
    )
    .unwrap();
    let sentinel = Process::spawn(&[config.display().to_string(), "--sentinel".to_owned()], sentinel_port);
    wait_for(Duration::from_secs(10), "the sentinel knows the primary", || {
        matches!(
            sentinel.command(&[b"SENTINEL", b"get-master-addr-by-name", b"mymaster"]),
            Ok(Reply::Array(Some(_)))
        )
    });

    let url = format!("redis-sentinel://127.0.0.1:{sentinel_port}/0?sentinelServiceName=mymaster");
    let registry = RedisRegistry::from_url(&url).unwrap();
    let call = registry.join("standup", &user("alice")).await.unwrap();
    let key = room_key(&primary, "standup");
    assert_eq!(
        primary.command(&[b"GET", &key]).unwrap(),
        Reply::Bulk(Some(call_value(&call)))
    );
    assert!(registry.end_call("standup", call.conference_id()).await.unwrap());
}

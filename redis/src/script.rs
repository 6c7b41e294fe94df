//! The four Lua scripts and running them. Each touches exactly one key (its `KEYS[1]`), so
//! each runs in Redis Cluster, where a script may only touch keys of one slot.
//!
//! - [`JOIN`] (`script/join.lua`): the room's call, touched; a tombstone is "ended", no key
//!   "missing"; never creates. A value is checked by `TYPE`, then `STRLEN` against
//!   [`MAX_VALUE_BYTES`], then the `cs1 ` tag, so a 20 MB value is never read and a value
//!   this registry did not write keeps its TTL.
//! - [`CREATE`] (`script/create.lua`): create-if-absent, replacing a tombstone for a new call
//!   (not for a re-assertion); returns the room's call afterwards.
//! - [`END`] (`script/end.lua`): compare-and-delete: the named call becomes its tombstone.
//! - [`INCR_USER`] (`script/incr_user.lua`): a user's count of new calls in the last minute.
//!
//! Redis runs a script as one command: whatever several instances send at the same instant,
//! each script sees the key as the last one left it. A script is sent by its SHA1
//! (`EVALSHA`), and in full (`EVAL`) only when Redis answers `NOSCRIPT` (after a restart, a
//! failover or a `SCRIPT FLUSH`). Keys and values are binary-safe arguments.

use std::{
    sync::LazyLock,
    time::{Duration, Instant},
};

use bytes::Bytes;
use fred::{
    bytes_utils::Str,
    clients::Client,
    interfaces::ClientLike,
    prelude::Options,
    types::{ClusterHash, CustomCommand, Value},
};
use tower_callstats::calls::{ActiveCall, RegistryError};

use crate::{
    connection::{Connection, map_error},
    key,
    value::{self, MAX_VALUE_BYTES},
};

/// A Lua script and its SHA1 (lowercase hex, what `EVALSHA` takes), each sent as a
/// shared string (no copy per command).
pub(crate) struct Script {
    pub(crate) name: &'static str,
    pub(crate) text: &'static str,
    pub(crate) sha1: LazyLock<Str>,
}

macro_rules! script {
    ($static:ident, $name:literal, $file:literal) => {
        pub(crate) static $static: Script = Script {
            name: $name,
            text: include_str!($file),
            sha1: LazyLock::new(|| {
                let hex = key::sha1_hex(include_str!($file).as_bytes());
                Str::from(std::str::from_utf8(&hex).expect("hex digits are ASCII"))
            }),
        };
    };
}

script!(JOIN, "join", "script/join.lua");
script!(CREATE, "create", "script/create.lua");
script!(END, "end", "script/end.lua");
script!(INCR_USER, "incr-user", "script/incr_user.lua");

/// What JOIN or CREATE found in a room's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// The room's call.
    Call(ActiveCall),
    /// The tombstone of an ended call.
    Ended,
    /// No key.
    Missing,
}

/// How every command is sent: once, and failing at once while there is no connection
/// (rather than queued); [`Runner::run`] bounds it.
fn options() -> Options {
    Options {
        fail_fast: true,
        max_attempts: Some(1),
        ..Options::default()
    }
}

/// What a script needs besides its key: where to send it, and its bounds.
pub(crate) struct Runner<'a> {
    pub(crate) connection: &'a Connection,
    pub(crate) command_timeout: Duration,
    pub(crate) unresponsive_timeout: Duration,
}

impl Runner<'_> {
    /// Runs `script` on `key` with `args` (`EVALSHA`, then `EVAL` if Redis does not know
    /// it), bounded by the command timeout (after the wait for the very first connection,
    /// see [`Connection::ready`]). The one timer of the command: when it fires, the
    /// connection's watchdog hears of it.
    pub(crate) async fn run(&self, script: &Script, key: Bytes, args: &[Value]) -> Result<Value, RegistryError> {
        let client = self.connection.ready(self.unresponsive_timeout).await?;
        let sent_at = Instant::now();
        match tokio::time::timeout(self.command_timeout, self.run_on(&client, script, key, args)).await {
            Ok(reply) => reply,
            Err(_) => {
                self.connection.timed_out(&client, sent_at, self.unresponsive_timeout);
                Err(RegistryError::Timeout)
            }
        }
    }

    async fn run_on(
        &self,
        client: &Client,
        script: &Script,
        key: Bytes,
        args: &[Value],
    ) -> Result<Value, RegistryError> {
        let command = |first: Value| {
            let mut command = Vec::with_capacity(3 + args.len());
            command.extend([first, Value::Integer(1), Value::Bytes(key.clone())]);
            command.extend_from_slice(args);
            command
        };
        // In a cluster, the key's slot routes the command. (fred 10 reads only a
        // `ClusterHash::Custom` slot from a custom command; any other policy falls back to
        // the first string argument, here the script's SHA1: so the slot is given.)
        let slot = ClusterHash::from(&key[..]);
        let send = |name: &'static str, first: Value| {
            let client = client.clone();
            let command = command(first);
            let slot = slot.clone();
            async move {
                let sent_at = Instant::now();
                let reply = client
                    .with_options(&options())
                    .custom::<Value, Value>(CustomCommand::new_static(name, slot, false), command)
                    .await;
                self.connection
                    .observe(&client, sent_at, reply.as_ref().err(), self.unresponsive_timeout);
                reply
            }
        };
        match send("EVALSHA", Value::String(script.sha1.clone())).await {
            Err(error) if error.details().starts_with("NOSCRIPT") => {
                tracing::debug!(target: "tower_callstats_redis", script = script.name, "Redis did not know the script: sending it whole");
                send("EVAL", Value::String(Str::from_static(script.text)))
                    .await
                    .map_err(map_error)
            }
            other => other.map_err(map_error),
        }
    }

    /// JOIN on `key`.
    pub(crate) async fn join(&self, key: Bytes, idle_ms: i64) -> Result<Found, RegistryError> {
        let args = [Value::Integer(idle_ms), max_bytes()];
        found(JOIN.name, self.run(&JOIN, key, &args).await?)
    }

    /// CREATE on `key` with `call`; `replace_tombstone` for a new call.
    pub(crate) async fn create(
        &self,
        key: Bytes,
        call: &ActiveCall,
        idle_ms: i64,
        replace_tombstone: bool,
    ) -> Result<Found, RegistryError> {
        let args = [
            Value::Bytes(value::encode(call)),
            Value::Integer(idle_ms),
            max_bytes(),
            Value::from(if replace_tombstone { "1" } else { "0" }),
        ];
        found(CREATE.name, self.run(&CREATE, key, &args).await?)
    }

    /// END on `key` for the call `conference_id`: whether it ended it.
    pub(crate) async fn end(&self, key: Bytes, conference_id: &str, idle_ms: i64) -> Result<bool, RegistryError> {
        let args = [
            Value::Bytes(Bytes::copy_from_slice(conference_id.as_bytes())),
            Value::Integer(idle_ms),
            max_bytes(),
        ];
        match self.run(&END, key, &args).await? {
            Value::Integer(1) => Ok(true),
            Value::Integer(0) => Ok(false),
            other => Err(corrupt_reply(END.name, other)),
        }
    }

    /// INCR-USER on `key`: the user's count of new calls in the window.
    pub(crate) async fn incr_user(&self, key: Bytes, window_ms: i64) -> Result<i64, RegistryError> {
        match self.run(&INCR_USER, key, &[Value::Integer(window_ms)]).await? {
            Value::Integer(count) => Ok(count),
            other => Err(corrupt_reply(INCR_USER.name, other)),
        }
    }
}

fn max_bytes() -> Value {
    Value::Integer(MAX_VALUE_BYTES as i64)
}

/// Reads `{'call', value}`, `{'ended'}`, `{'missing'}` or `{'corrupt', why}`.
fn found(script: &str, reply: Value) -> Result<Found, RegistryError> {
    let corrupt = |reply| Err(corrupt_reply(script, reply));
    let Value::Array(items) = reply else {
        return corrupt(reply);
    };
    let Some(texts) = items.iter().map(Value::as_bytes).collect::<Option<Vec<&[u8]>>>() else {
        return Err(RegistryError::Corrupt(format!(
            "the {script} script answered an array of non-strings"
        )));
    };
    match texts[..] {
        [b"call", value] => value::parse(value).map(Found::Call),
        [b"ended"] => Ok(Found::Ended),
        [b"missing"] => Ok(Found::Missing),
        [b"corrupt", why] => Err(RegistryError::Corrupt(format!(
            "the room's key holds {}, not a call of this registry",
            String::from_utf8_lossy(why)
        ))),
        _ => Err(RegistryError::Corrupt(format!(
            "the {script} script answered an unexpected array"
        ))),
    }
}

fn corrupt_reply(script: &str, reply: Value) -> RegistryError {
    RegistryError::Corrupt(format!("the {script} script answered a {:?}", reply.kind()))
}

#[cfg(test)]
mod tests;

//! A node's state in SQLite: pinned keys and the names they announced, channels, the
//! message counter reservation, replay state and the message history.
//!
//! Every write is its own transaction, made before the node reports what it wrote (an
//! event on the API) and before the frame that depends on it goes on the air (an ACK for
//! a received message, a frame with a counter past the saved reservation), so `kill -9`
//! at any instant loses nothing that was reported. The journal is SQLite's write-ahead
//! log with `synchronous=FULL`: a committed write survives a power cut too.

use std::path::Path;

use airswarm_core::crypto::{ChannelKey, Fingerprint, PublicIdentity};
use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS peers (
    fingerprint BLOB PRIMARY KEY,
    key_der BLOB NOT NULL,
    name TEXT
);
CREATE TABLE IF NOT EXISTS channels (
    position INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    key BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    msg_id INTEGER PRIMARY KEY AUTOINCREMENT,
    direction TEXT NOT NULL,
    peer BLOB,
    address TEXT,
    name TEXT,
    channel TEXT,
    text TEXT NOT NULL,
    sealed TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    at_ms INTEGER NOT NULL
);
";

/// One pinned key as stored.
#[derive(Clone, Debug)]
pub struct StoredPeer {
    pub key: PublicIdentity,
    pub name: Option<String>,
}

/// One message in the history.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMessage {
    pub msg_id: i64,
    /// "in" or "out".
    pub direction: String,
    pub peer: Option<Fingerprint>,
    /// The mesh address a received message came from (what a channel message claims).
    pub address: Option<String>,
    pub name: Option<String>,
    pub channel: Option<String>,
    pub text: String,
    /// "session", "channel" or "plain".
    pub sealed: String,
    /// "sent", "delivered", "failed" or "received".
    pub status: String,
    pub reason: Option<String>,
    pub at_ms: i64,
}

/// A history filter.
#[derive(Clone, Debug)]
pub enum Conversation {
    Peer(Fingerprint),
    Channel(String),
}

fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        msg_id: r.get(0)?,
        direction: r.get(1)?,
        peer: r
            .get::<_, Option<Vec<u8>>>(2)?
            .map(fingerprint)
            .transpose()?,
        name: r.get(3)?,
        channel: r.get(4)?,
        text: r.get(5)?,
        sealed: r.get(6)?,
        status: r.get(7)?,
        reason: r.get(8)?,
        at_ms: r.get(9)?,
        address: r.get(10)?,
    })
}

/// The node's database.
#[derive(Debug)]
pub struct Store {
    pub(super) conn: Connection,
}

fn fingerprint(bytes: Vec<u8>) -> rusqlite::Result<Fingerprint> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| rusqlite::Error::InvalidQuery)?;
    Ok(Fingerprint(arr))
}

/// True when SQLite found that the file is not a database, or a damaged one.
fn damaged(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(f, _))
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
                )
        )
    })
}

impl Store {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        // SQLite says only "unable to open database file" for a directory or a file this
        // user may not write; the OS error names the problem.
        if let Ok(meta) = std::fs::metadata(path) {
            if !meta.is_file() {
                bail!("the node database {} is not a regular file", path.display());
            }
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .with_context(|| format!("cannot open the node database {}", path.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the node database {}", path.display()))?;
        Store::init(conn).map_err(|e| match damaged(&e) {
            true => anyhow::anyhow!(
                "the node database {} is not an airswarm database or is damaged (left as \
                 it is; move it away to start with an empty one): {}",
                path.display(),
                e.root_cause()
            ),
            false => e.context(format!("node database {}", path.display())),
        })
    }

    /// A database in memory (tests).
    pub fn in_memory() -> Result<Store> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(super::file_store::SCHEMA)?;
        let store = Store { conn };
        match store.meta_i64("schema_version")? {
            None => store.set_meta_i64("schema_version", SCHEMA_VERSION)?,
            Some(SCHEMA_VERSION) => {}
            Some(v) => bail!(
                "it was written by a newer airswarm (schema {v}; this one knows {SCHEMA_VERSION})"
            ),
        }
        Ok(store)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn set_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    fn meta_i64(&self, key: &str) -> Result<Option<i64>> {
        Ok(self
            .meta(key)?
            .and_then(|v| <[u8; 8]>::try_from(v).ok())
            .map(i64::from_be_bytes))
    }

    fn set_meta_i64(&self, key: &str, v: i64) -> Result<()> {
        self.set_meta(key, &v.to_be_bytes())
    }

    /// The first message counter to use: the reservation saved last (never lower).
    pub fn counter_next(&self) -> Result<u64> {
        Ok(self.meta_i64("counter_next")?.unwrap_or(1).max(1) as u64)
    }

    /// Save the reservation the node asked for (only ever raised).
    pub fn set_counter_next(&self, next: u64) -> Result<()> {
        let next = i64::try_from(next).context("message counter out of range")?;
        if next > self.meta_i64("counter_next")?.unwrap_or(0) {
            self.set_meta_i64("counter_next", next)?;
        }
        Ok(())
    }

    pub fn replay_state(&self) -> Result<Option<Vec<u8>>> {
        self.meta("replay_state")
    }

    pub fn set_replay_state(&self, state: &[u8]) -> Result<()> {
        self.set_meta("replay_state", state)
    }

    pub fn peers(&self) -> Result<Vec<StoredPeer>> {
        let mut st = self
            .conn
            .prepare("SELECT key_der, name FROM peers ORDER BY fingerprint")?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (der, name) = row?;
            let key = PublicIdentity::from_der(&der).context("a stored peer key is damaged")?;
            out.push(StoredPeer { key, name });
        }
        Ok(out)
    }

    /// Remember a pinned key (kept if already there).
    pub fn add_peer(&self, key: &PublicIdentity) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO peers (fingerprint, key_der) VALUES (?1, ?2)",
            params![key.fingerprint().0.as_slice(), key.to_der()],
        )?;
        Ok(())
    }

    pub fn set_peer_name(&self, fp: &Fingerprint, name: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE peers SET name = ?2 WHERE fingerprint = ?1",
            params![fp.0.as_slice(), name],
        )?;
        Ok(())
    }

    /// Channels in joining order.
    pub fn channels(&self) -> Result<Vec<(String, ChannelKey)>> {
        let mut st = self
            .conn
            .prepare("SELECT name, key FROM channels ORDER BY position")?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, key) = row?;
            let key: [u8; 32] = key
                .try_into()
                .map_err(|_| anyhow::anyhow!("the stored key of channel {name} is damaged"))?;
            out.push((name, ChannelKey::from_bytes(key)));
        }
        Ok(out)
    }

    pub fn add_channel(&self, name: &str, key: &ChannelKey) -> Result<()> {
        self.conn.execute(
            "INSERT INTO channels (position, name, key)
             VALUES ((SELECT COALESCE(MAX(position), -1) + 1 FROM channels), ?1, ?2)",
            params![name, key.as_bytes().as_slice()],
        )?;
        Ok(())
    }

    pub fn remove_channel(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM channels WHERE name = ?1", [name])?
            > 0)
    }

    /// Append a message; returns its id.
    pub fn add_message(&self, m: &StoredMessage) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO messages (direction, peer, name, channel, text, sealed, status, reason, at_ms, address)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                m.direction,
                m.peer.map(|f| f.0.to_vec()),
                m.name,
                m.channel,
                m.text,
                m.sealed,
                m.status,
                m.reason,
                m.at_ms,
                m.address
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn set_status(&self, msg_id: i64, status: &str, reason: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE messages SET status = ?2, reason = ?3 WHERE msg_id = ?1",
            params![msg_id, status, reason],
        )?;
        Ok(())
    }

    /// Outgoing messages still waiting for their outcome (after a crash: their retries
    /// died with the process).
    pub fn fail_unresolved(&self, reason: &str) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare("SELECT msg_id FROM messages WHERE direction = 'out' AND status = 'sent' AND sealed = 'session'")?;
        let ids: Vec<i64> = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in &ids {
            self.set_status(*id, "failed", Some(reason))?;
        }
        Ok(ids)
    }

    /// The last `limit` messages, oldest first.
    pub fn history(&self, limit: usize, with: Option<&Conversation>) -> Result<Vec<StoredMessage>> {
        let (clause, arg): (&str, Option<rusqlite::types::Value>) = match with {
            None => ("", None),
            Some(Conversation::Peer(fp)) => (
                "WHERE peer = ?2 AND channel IS NULL",
                Some(fp.0.to_vec().into()),
            ),
            Some(Conversation::Channel(c)) => ("WHERE channel = ?2", Some(c.clone().into())),
        };
        let sql = format!(
            "SELECT msg_id, direction, peer, name, channel, text, sealed, status, reason, at_ms, address
             FROM (SELECT * FROM messages {clause} ORDER BY msg_id DESC LIMIT ?1) ORDER BY msg_id"
        );
        let mut st = self.conn.prepare(&sql)?;
        let map = message_row;
        let limit = limit as i64;
        let rows = match arg {
            None => st
                .query_map(params![limit], map)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            Some(a) => st
                .query_map(params![limit, a], map)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
        };
        Ok(rows)
    }

    pub fn message(&self, msg_id: i64) -> Result<Option<StoredMessage>> {
        Ok(self
            .conn
            .query_row(
                "SELECT msg_id, direction, peer, name, channel, text, sealed, status, reason, at_ms, address
                 FROM messages WHERE msg_id = ?1",
                [msg_id],
                message_row,
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str, direction: &str, status: &str) -> StoredMessage {
        StoredMessage {
            msg_id: 0,
            direction: direction.into(),
            peer: Some(Fingerprint([1; 32])),
            address: None,
            name: Some("bob".into()),
            channel: None,
            text: text.into(),
            sealed: "session".into(),
            status: status.into(),
            reason: None,
            at_ms: 5,
        }
    }

    #[test]
    fn the_counter_reservation_only_rises() {
        let s = Store::in_memory().unwrap();
        assert_eq!(s.counter_next().unwrap(), 1);
        s.set_counter_next(4097).unwrap();
        s.set_counter_next(100).unwrap();
        assert_eq!(s.counter_next().unwrap(), 4097);
    }

    #[test]
    fn history_is_the_last_n_oldest_first_and_filters_by_conversation() {
        let s = Store::in_memory().unwrap();
        for i in 0..5 {
            s.add_message(&msg(&format!("m{i}"), "in", "received"))
                .unwrap();
        }
        let mut on_channel = msg("all", "out", "sent");
        on_channel.channel = Some("base".into());
        on_channel.peer = None;
        s.add_message(&on_channel).unwrap();
        let last: Vec<String> = s
            .history(3, None)
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(last, ["m3", "m4", "all"]);
        let with_bob = s
            .history(10, Some(&Conversation::Peer(Fingerprint([1; 32]))))
            .unwrap();
        assert_eq!(with_bob.len(), 5);
        let base = s
            .history(10, Some(&Conversation::Channel("base".into())))
            .unwrap();
        assert_eq!(base.len(), 1);
    }

    #[test]
    fn unresolved_direct_messages_fail_after_a_restart_and_statuses_stick() {
        let dir = std::env::temp_dir().join(format!("airswarm-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.db");
        {
            let s = Store::open(&path).unwrap();
            let a = s.add_message(&msg("pending", "out", "sent")).unwrap();
            let b = s.add_message(&msg("done", "out", "sent")).unwrap();
            s.set_status(b, "delivered", None).unwrap();
            s.add_channel("base", &ChannelKey::from_bytes([3; 32]))
                .unwrap();
            s.add_channel("team", &ChannelKey::from_bytes([4; 32]))
                .unwrap();
            assert_eq!(a + 1, b);
        }
        let s = Store::open(&path).unwrap();
        let failed = s.fail_unresolved("the node stopped").unwrap();
        assert_eq!(failed.len(), 1);
        let h = s.history(10, None).unwrap();
        assert_eq!(h[0].status, "failed");
        assert_eq!(h[1].status, "delivered");
        let names: Vec<String> = s.channels().unwrap().into_iter().map(|c| c.0).collect();
        assert_eq!(names, ["base", "team"]);
        assert!(
            s.add_channel("base", &ChannelKey::from_bytes([5; 32]))
                .is_err()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

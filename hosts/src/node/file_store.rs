//! Files over the mesh in the node's database: each file's signed metainfo, the channel
//! it travels on, its role, and every verified piece, so a restart resumes where it
//! stopped (`FileMesh::resume` checks each stored piece against its hash again).
//!
//! A piece is written before the node reports it and before it is offered to neighbours
//! (the engine announces it in its next bitfield, which leaves after this write).

use airswarm_core::meshfile::FileId;
use anyhow::Result;
use rusqlite::params;

use super::store::Store;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS files (
    file_id BLOB PRIMARY KEY,
    meta BLOB NOT NULL,
    channel TEXT NOT NULL,
    role TEXT NOT NULL,
    path TEXT,
    added_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS file_pieces (
    file_id BLOB NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (file_id, idx)
);
";

/// What the node does with a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileRole {
    /// We shared it (every piece stored).
    Shared,
    /// We are gathering its pieces.
    Fetching,
    /// Every piece is in and the file was written out.
    Complete,
    /// Carried for neighbours that gather it (not asked for here, not written out).
    Relay,
}

impl FileRole {
    pub fn as_str(self) -> &'static str {
        match self {
            FileRole::Shared => "shared",
            FileRole::Fetching => "fetching",
            FileRole::Complete => "complete",
            FileRole::Relay => "relay",
        }
    }

    fn parse(s: &str) -> Option<FileRole> {
        Some(match s {
            "shared" => FileRole::Shared,
            "fetching" => FileRole::Fetching,
            "complete" => FileRole::Complete,
            "relay" => FileRole::Relay,
            _ => return None,
        })
    }
}

/// One file as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFile {
    pub file: FileId,
    pub meta: Vec<u8>,
    pub channel: String,
    pub role: FileRole,
    /// Where the file was shared from or written to.
    pub path: Option<String>,
    pub added_ms: i64,
}

fn insert_file(conn: &rusqlite::Connection, f: &StoredFile) -> Result<()> {
    conn.execute(
        "INSERT INTO files (file_id, meta, channel, role, path, added_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(file_id) DO UPDATE SET meta = excluded.meta,
             channel = excluded.channel, role = excluded.role, path = excluded.path",
        params![
            f.file.0.as_slice(),
            f.meta,
            f.channel,
            f.role.as_str(),
            f.path,
            f.added_ms
        ],
    )?;
    Ok(())
}

impl Store {
    /// Add a file (or replace its row: a file fetched again after it was removed).
    pub fn add_file(&self, f: &StoredFile) -> Result<()> {
        insert_file(&self.conn, f)
    }

    pub fn set_file_done(&self, file: FileId, role: FileRole, path: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE files SET role = ?2, path = ?3 WHERE file_id = ?1",
            params![file.0.as_slice(), role.as_str(), path],
        )?;
        Ok(())
    }

    /// Files in the order they were added.
    pub fn files(&self) -> Result<Vec<StoredFile>> {
        let mut st = self.conn.prepare(
            "SELECT file_id, meta, channel, role, path, added_ms FROM files ORDER BY added_ms, file_id",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, meta, channel, role, path, added_ms) = row?;
            let file = FileId(
                id.try_into()
                    .map_err(|_| anyhow::anyhow!("a stored file id is damaged"))?,
            );
            let role = FileRole::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("file {file}: unknown role {role:?}"))?;
            out.push(StoredFile {
                file,
                meta,
                channel,
                role,
                path,
                added_ms,
            });
        }
        Ok(out)
    }

    pub fn add_piece(&self, file: FileId, index: u32, data: &[u8]) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO file_pieces (file_id, idx, data) VALUES (?1, ?2, ?3)",
            params![file.0.as_slice(), index, data],
        )?;
        Ok(())
    }

    /// Add a file with every piece in one transaction (a shared file).
    pub fn add_file_with_pieces<'a>(
        &self,
        f: &StoredFile,
        pieces: impl IntoIterator<Item = (u32, &'a [u8])>,
    ) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        insert_file(&tx, f)?;
        for (i, data) in pieces {
            tx.execute(
                "INSERT OR REPLACE INTO file_pieces (file_id, idx, data) VALUES (?1, ?2, ?3)",
                params![f.file.0.as_slice(), i, data],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn pieces(&self, file: FileId) -> Result<Vec<(u32, Vec<u8>)>> {
        let mut st = self
            .conn
            .prepare("SELECT idx, data FROM file_pieces WHERE file_id = ?1 ORDER BY idx")?;
        let rows = st.query_map([file.0.as_slice()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn file(&self, file: FileId) -> Result<Option<StoredFile>> {
        Ok(self.files()?.into_iter().find(|f| f.file == file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_pieces_survive_a_reopen() {
        let dir = std::env::temp_dir().join(format!("airswarm-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("node.db");
        let id = FileId([7; 8]);
        {
            let s = Store::open(&path).unwrap();
            let f = StoredFile {
                file: id,
                meta: vec![1, 2, 3],
                channel: "base".into(),
                role: FileRole::Fetching,
                path: None,
                added_ms: 5,
            };
            s.add_file(&f).unwrap();
            s.add_piece(id, 2, b"two").unwrap();
            s.add_piece(id, 0, b"zero").unwrap();
            s.add_piece(id, 2, b"two").unwrap();
            let shared = StoredFile {
                file: FileId([8; 8]),
                role: FileRole::Shared,
                added_ms: 6,
                ..f
            };
            s.add_file_with_pieces(&shared, [(0, &b"a"[..]), (1, &b"b"[..])])
                .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let files = s.files().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].role, FileRole::Fetching);
        assert_eq!(
            s.pieces(id).unwrap(),
            [(0, b"zero".to_vec()), (2, b"two".to_vec())]
        );
        assert_eq!(s.pieces(FileId([8; 8])).unwrap().len(), 2);
        s.set_file_done(id, FileRole::Complete, Some("/x/y"))
            .unwrap();
        let f = s.file(id).unwrap().unwrap();
        assert_eq!(
            (f.role, f.path.as_deref()),
            (FileRole::Complete, Some("/x/y"))
        );
        assert!(s.file(FileId([9; 8])).unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Which public file answers a request, and whether it may be served: one decision for
//! the WebSocket `file` verb and for HTTP static files (docs/protocol.md#static-files).
//!
//! The core cannot touch the file system, so a lookup is a small machine the adapter
//! drives: it asks for the facts about one path at a time ([`FileLookup::path`]), the
//! adapter answers with [`FileMeta`] (from `canonicalize` and `metadata`), and the
//! lookup decides: serve this file, try the directory's `index.html`, or not found.
//! The adapter then only reads the bytes of [`PublicFile::path`].
//!
//! A synchronous adapter (or a tokio blocking task) hands the two file system calls
//! over as closures and lets the core drive: [`FileLookup::find`], [`verb_outcome`]
//! for the `file` verb, [`StaticFile::serve`](super::StaticFile::serve) for HTTP.
//!
//! ```text
//!   FileLookup::start(root, "a/b") ──path()──► adapter stats it ──on_meta(meta)──►
//!       ├─ Lookup::Found(PublicFile)   read `path` (at most `len` bytes)
//!       ├─ Lookup::Next(FileLookup)    a directory: stat its index.html
//!       └─ Lookup::NotFound
//! ```

use std::path::{Path, PathBuf};

/// The name served for a directory (Actionhero's `general.directoryFileType`).
pub const DIRECTORY_INDEX: &str = "index.html";

/// Default for [`FileLookup::start`]'s `max_len`: files larger than this are not
/// served (16 MiB); the `file` verb sends a file whole in one frame.
pub const DEFAULT_MAX_FILE_LEN: u64 = 16 * 1024 * 1024;

/// What kind of file system object a path names (after following symlinks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// Anything else (socket, device, fifo).
    Other,
}

/// The facts the adapter reports about one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// The canonical path (symlinks followed), e.g. from `std::fs::canonicalize`.
    pub canonical: PathBuf,
    /// What it is.
    pub kind: FileKind,
    /// Size in bytes.
    pub len: u64,
    /// Modification time, epoch milliseconds (0 when unknown).
    pub modified_ms: u64,
}

impl FileMeta {
    /// The facts from `std::fs::metadata` of `canonical` (the adapter canonicalizes
    /// the path, then reads its metadata; both follow symlinks).
    pub fn of(canonical: PathBuf, meta: &std::fs::Metadata) -> Self {
        let kind = if meta.is_file() {
            FileKind::File
        } else if meta.is_dir() {
            FileKind::Dir
        } else {
            FileKind::Other
        };
        let modified_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self {
            canonical,
            kind,
            len: meta.len(),
            modified_ms,
        }
    }
}

/// A file that may be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicFile {
    /// The canonical path to read.
    pub path: PathBuf,
    /// The path as requested, relative to the public directory (with `index.html`
    /// appended for a directory): what the MIME type is taken from.
    pub name: String,
    /// Its MIME type by the requested name's extension, if known.
    pub mime: Option<&'static str>,
    /// Size in bytes at lookup time.
    pub len: u64,
    /// Modification time, epoch milliseconds.
    pub modified_ms: u64,
}

impl PublicFile {
    /// The `file` verb's answer for this file with its bytes: the content as UTF-8
    /// (invalid sequences become U+FFFD, as Node's `toString()` does), the size from
    /// the lookup's metadata, as Actionhero reports it.
    pub fn into_outcome(self, bytes: &[u8]) -> crate::server::FileOutcome {
        crate::server::FileOutcome::Found {
            content: String::from_utf8_lossy(bytes).into_owned(),
            mime: self.mime.map(str::to_owned),
            length: self.len,
            last_modified_ms: self.modified_ms,
        }
    }
}

/// One step of a lookup: the path whose [`FileMeta`] the lookup needs next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLookup {
    root: PathBuf,
    name: String,
    candidate: PathBuf,
    max_len: u64,
    index_tried: bool,
}

/// What a lookup decided after one [`FileMeta`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Serve this file.
    Found(PublicFile),
    /// Stat one more path (a directory's index).
    Next(FileLookup),
    /// Missing, outside the public directory, not a regular file, or too large.
    NotFound,
}

impl FileLookup {
    /// Starts looking up `file` (a path relative to the public directory, already
    /// percent-decoded) under `root`, which must be canonical (the adapter
    /// canonicalizes the public directory once). `None` when the request can never be
    /// served: empty, absolute, a drive path, a NUL byte, or any `..` component.
    pub fn start(root: &Path, file: &str, max_len: u64) -> Option<Self> {
        let name = safe_relative_path(file)?;
        Some(Self {
            root: root.to_path_buf(),
            candidate: root.join(name),
            name: name.to_owned(),
            max_len,
            index_tried: false,
        })
    }

    /// The path to stat (canonicalize and read the metadata of).
    pub fn path(&self) -> &Path {
        &self.candidate
    }

    /// Drives the lookup to its end: `stat` answers [`path`](Self::path) at each step
    /// (the adapter's `canonicalize` + `metadata`, see [`FileMeta::of`]).
    pub fn find(self, mut stat: impl FnMut(&Path) -> Option<FileMeta>) -> Option<PublicFile> {
        let mut step = self;
        loop {
            let meta = stat(step.path());
            match step.on_meta(meta) {
                Lookup::Found(file) => return Some(file),
                Lookup::Next(next) => step = next,
                Lookup::NotFound => return None,
            }
        }
    }

    /// The adapter's answer for [`path`](Self::path): `None` when it does not exist
    /// or cannot be read.
    pub fn on_meta(self, meta: Option<FileMeta>) -> Lookup {
        let Some(meta) = meta else {
            return Lookup::NotFound;
        };
        // Symlinks are followed, but what they lead to must still be inside the root.
        if !meta.canonical.starts_with(&self.root) {
            return Lookup::NotFound;
        }
        match meta.kind {
            FileKind::Dir if !self.index_tried => {
                let mut name = self.name;
                if !name.is_empty() && !name.ends_with('/') {
                    name.push('/');
                }
                name.push_str(DIRECTORY_INDEX);
                Lookup::Next(Self {
                    candidate: meta.canonical.join(DIRECTORY_INDEX),
                    root: self.root,
                    name,
                    max_len: self.max_len,
                    index_tried: true,
                })
            }
            FileKind::File if meta.len <= self.max_len => Lookup::Found(PublicFile {
                path: meta.canonical,
                mime: crate::server::mime_type(&self.name),
                name: self.name,
                len: meta.len,
                modified_ms: meta.modified_ms,
            }),
            FileKind::File | FileKind::Dir | FileKind::Other => Lookup::NotFound,
        }
    }
}

/// The `file` verb's answer for `lookup` (`None`: never served): drives it with
/// `stat`, then reads the found file with `read`. A failed read is not found.
pub fn verb_outcome(
    lookup: Option<FileLookup>,
    stat: impl FnMut(&Path) -> Option<FileMeta>,
    read: impl FnOnce(&Path) -> Option<Vec<u8>>,
) -> crate::server::FileOutcome {
    let found = lookup.and_then(|l| l.find(stat));
    match found.and_then(|f| read(&f.path).map(|bytes| (f, bytes))) {
        Some((file, bytes)) => file.into_outcome(&bytes),
        None => crate::server::FileOutcome::NotFound,
    }
}

/// `file` when it is relative, non-empty, without NUL and without a `..` component.
pub(crate) fn safe_relative_path(file: &str) -> Option<&str> {
    if file.is_empty() || file.contains('\0') {
        return None;
    }
    let bytes = file.as_bytes();
    let absolute = file.starts_with('/')
        || file.starts_with('\\')
        || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic());
    if absolute || file.split(['/', '\\']).any(|part| part == "..") {
        return None;
    }
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(path: &str, kind: FileKind, len: u64) -> Option<FileMeta> {
        Some(FileMeta {
            canonical: PathBuf::from(path),
            kind,
            len,
            modified_ms: 7,
        })
    }

    #[test]
    fn refuses_unsafe_requests() {
        let root = Path::new("/srv/public");
        for bad in [
            "",
            "/etc/passwd",
            "\\x",
            "C:x",
            "../x",
            "a/../../x",
            "a\\..\\x",
            "a\0b",
        ] {
            assert_eq!(FileLookup::start(root, bad, 10), None, "{bad:?}");
        }
        assert!(FileLookup::start(root, "a/b.html", 10).is_some());
        assert!(FileLookup::start(root, "..a", 10).is_some());
    }

    #[test]
    fn serves_a_file_inside_the_root() {
        let l = FileLookup::start(Path::new("/srv/public"), "a.css", 10).unwrap();
        assert_eq!(l.path(), Path::new("/srv/public/a.css"));
        match l.on_meta(meta("/srv/public/a.css", FileKind::File, 3)) {
            Lookup::Found(f) => {
                assert_eq!(f.mime, Some("text/css"));
                assert_eq!((f.len, f.modified_ms), (3, 7));
                assert_eq!(f.path, Path::new("/srv/public/a.css"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn follows_directories_to_their_index_once() {
        let root = Path::new("/srv/public");
        let l = FileLookup::start(root, "sub", 10).unwrap();
        let Lookup::Next(l) = l.on_meta(meta("/srv/public/sub", FileKind::Dir, 0)) else {
            panic!()
        };
        assert_eq!(l.path(), Path::new("/srv/public/sub/index.html"));
        // index.html that is itself a directory: not found, no loop.
        assert_eq!(
            l.clone()
                .on_meta(meta("/srv/public/sub/index.html", FileKind::Dir, 0)),
            Lookup::NotFound
        );
        match l.on_meta(meta("/srv/public/sub/index.html", FileKind::File, 1)) {
            Lookup::Found(f) => {
                assert_eq!(f.name, "sub/index.html");
                assert_eq!(f.mime, Some("text/html"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_symlinks_out_of_the_root_other_kinds_and_large_files() {
        let root = Path::new("/srv/public");
        let l = || FileLookup::start(root, "x", 10).unwrap();
        assert_eq!(
            l().on_meta(meta("/etc/passwd", FileKind::File, 1)),
            Lookup::NotFound
        );
        assert_eq!(
            l().on_meta(meta("/srv/publicity/x", FileKind::File, 1)),
            Lookup::NotFound
        );
        assert_eq!(
            l().on_meta(meta("/srv/public/x", FileKind::Other, 1)),
            Lookup::NotFound
        );
        assert_eq!(
            l().on_meta(meta("/srv/public/x", FileKind::File, 11)),
            Lookup::NotFound
        );
        assert_eq!(l().on_meta(None), Lookup::NotFound);
    }
}

//! File system reads for the core's file decisions: the `file` verb and HTTP static
//! files. The core's [`FileLookup`] decides which file may be served; this module only
//! answers its questions (`canonicalize`, `metadata`) and reads bytes.

use std::fs;
use std::path::Path;
use std::time::UNIX_EPOCH;

use actionhero_ws::http::files::{FileKind, FileLookup, FileMeta, Lookup, PublicFile};
use actionhero_ws::server::FileOutcome;

/// The facts about one path, following symlinks; `None` when it cannot be read.
pub fn stat(path: &Path) -> Option<FileMeta> {
    let canonical = path.canonicalize().ok()?;
    let meta = fs::metadata(&canonical).ok()?;
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
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Some(FileMeta {
        canonical,
        kind,
        len: meta.len(),
        modified_ms,
    })
}

/// Drives a lookup to its end. Blocking: call it from `spawn_blocking`.
pub fn find(lookup: FileLookup) -> Option<PublicFile> {
    let mut step = lookup;
    loop {
        let meta = stat(step.path());
        match step.on_meta(meta) {
            Lookup::Found(file) => return Some(file),
            Lookup::Next(next) => step = next,
            Lookup::NotFound => return None,
        }
    }
}

/// The `file` verb: looks `file` up under `root` (canonical) and reads it whole.
/// Blocking: call it from `spawn_blocking`.
pub fn read_public_file(root: &Path, file: &str, max_len: u64) -> FileOutcome {
    let Some(found) = FileLookup::start(root, file, max_len).and_then(find) else {
        return FileOutcome::NotFound;
    };
    match fs::read(&found.path) {
        Ok(bytes) => found.into_outcome(&bytes),
        Err(_) => FileOutcome::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actionhero_ws::http::files::DEFAULT_MAX_FILE_LEN;
    use std::path::PathBuf;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ahws-files-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("public/sub")).unwrap();
        fs::write(dir.join("public/a.html"), "<p>a</p>").unwrap();
        fs::write(dir.join("public/sub/index.html"), "idx").unwrap();
        fs::write(dir.join("secret.txt"), "secret").unwrap();
        dir.canonicalize().unwrap()
    }

    fn read(root: &Path, file: &str) -> FileOutcome {
        read_public_file(root, file, DEFAULT_MAX_FILE_LEN)
    }

    #[test]
    fn reads_files_and_directory_index() {
        let dir = tmp("read");
        let root = dir.join("public");
        match read(&root, "a.html") {
            FileOutcome::Found {
                content,
                mime,
                length,
                ..
            } => {
                assert_eq!(content, "<p>a</p>");
                assert_eq!(mime.as_deref(), Some("text/html"));
                assert_eq!(length, 8);
            }
            FileOutcome::NotFound => panic!("not found"),
        }
        assert!(matches!(
            read(&root, "sub"),
            FileOutcome::Found { ref content, .. } if content == "idx"
        ));
        assert_eq!(read(&root, "missing"), FileOutcome::NotFound);
        assert_eq!(read(&root, "../secret.txt"), FileOutcome::NotFound);
        assert_eq!(read(&root, "/etc/hosts"), FileOutcome::NotFound);
        assert_eq!(read_public_file(&root, "a.html", 3), FileOutcome::NotFound);
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_then_checked() {
        let dir = tmp("link");
        let root = dir.join("public");
        std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("out.txt")).unwrap();
        std::os::unix::fs::symlink(root.join("a.html"), root.join("in.html")).unwrap();
        assert_eq!(read(&root, "out.txt"), FileOutcome::NotFound);
        assert!(matches!(read(&root, "in.html"), FileOutcome::Found { .. }));
        let _ = fs::remove_dir_all(&dir);
    }
}

//! Reads for the `file` verb (PROTOCOL.md §6): a file under a public directory, with a
//! canonical-path containment check.
//!
//! The core has already refused empty, absolute and `..` paths; this module still checks
//! the canonical path, because a symlink inside the directory may point anywhere.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use actionhero_ws::server::FileOutcome;

/// Reads `file` (relative) under `root` and describes it for
/// [`Server::complete_file`](actionhero_ws::server::Server::complete_file).
///
/// * Both `root` and the candidate are canonicalized (symlinks followed); a candidate
///   whose canonical path is not inside the canonical root is not found.
/// * A directory is replaced by its `index.html`, which is checked again.
/// * Anything that is not a regular file after that (sockets, devices, missing) is not
///   found.
/// * The content is the file as UTF-8 (invalid sequences become U+FFFD, as Node's
///   `toString()` does), `length` the size from `stat`, the MIME type from the requested
///   name's extension ([`mime_for`]).
///
/// Blocking: call it from `spawn_blocking`.
pub fn read_public_file(root: &Path, file: &str) -> FileOutcome {
    let Some(found) = locate(root, file) else {
        return FileOutcome::NotFound;
    };
    let Ok(meta) = fs::metadata(&found.real) else {
        return FileOutcome::NotFound;
    };
    let Ok(bytes) = fs::read(&found.real) else {
        return FileOutcome::NotFound;
    };
    let last_modified_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    FileOutcome::Found {
        content: String::from_utf8_lossy(&bytes).into_owned(),
        mime: mime_for(&found.requested).map(str::to_owned),
        length: meta.len(),
        last_modified_ms,
    }
}

struct Located {
    /// The path as requested (after `index.html` substitution), for the MIME type.
    requested: PathBuf,
    /// The canonical path of a regular file inside the root.
    real: PathBuf,
}

fn locate(root: &Path, file: &str) -> Option<Located> {
    let root = root.canonicalize().ok()?;
    let mut requested = root.join(file);
    let mut real = contained(&root, &requested)?;
    if fs::metadata(&real).ok()?.is_dir() {
        requested = requested.join("index.html");
        real = contained(&root, &real.join("index.html"))?;
    }
    if !fs::metadata(&real).ok()?.is_file() {
        return None;
    }
    Some(Located { requested, real })
}

/// The canonical form of `path` if it exists and lies inside `root` (already canonical).
fn contained(root: &Path, path: &Path) -> Option<PathBuf> {
    let real = path.canonicalize().ok()?;
    real.starts_with(root).then_some(real)
}

/// The MIME type for a file by its extension: the core's [`mime_type`](actionhero_ws::server::mime_type).
pub fn mime_for(path: &Path) -> Option<&'static str> {
    path.to_str().and_then(actionhero_ws::server::mime_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ahws-files-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("public/sub")).unwrap();
        fs::write(dir.join("public/a.html"), "<p>a</p>").unwrap();
        fs::write(dir.join("public/sub/index.html"), "idx").unwrap();
        fs::write(dir.join("secret.txt"), "secret").unwrap();
        dir
    }

    #[test]
    fn reads_files_and_directory_index() {
        let dir = tmp("read");
        let root = dir.join("public");
        match read_public_file(&root, "a.html") {
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
            read_public_file(&root, "sub"),
            FileOutcome::Found { ref content, .. } if content == "idx"
        ));
        assert_eq!(read_public_file(&root, "."), FileOutcome::NotFound);
        assert_eq!(read_public_file(&root, "missing"), FileOutcome::NotFound);
        assert_eq!(
            read_public_file(&root, "../secret.txt"),
            FileOutcome::NotFound
        );
        assert_eq!(read_public_file(&root, "/etc/hosts"), FileOutcome::NotFound);
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_then_checked() {
        let dir = tmp("link");
        let root = dir.join("public");
        std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("out.txt")).unwrap();
        std::os::unix::fs::symlink(root.join("a.html"), root.join("in.html")).unwrap();
        assert_eq!(read_public_file(&root, "out.txt"), FileOutcome::NotFound);
        assert!(matches!(
            read_public_file(&root, "in.html"),
            FileOutcome::Found { .. }
        ));
        let _ = fs::remove_dir_all(&dir);
    }
}

//! The `file` verb's file system side: resolve a relative path under the public
//! directory, refuse anything that escapes it, read the file.
//!
//! The core already refuses absolute paths and `..` components; the canonical-path check
//! here also catches symbolic links that point outside the directory.

use std::fs;
use std::path::Path;
use std::time::UNIX_EPOCH;

use actionhero_ws::server::FileOutcome;

/// Actionhero's `general.directoryFileType`: what a directory request serves.
const DIRECTORY_INDEX: &str = "index.html";

/// Reads `file` (relative) under `root` (canonical). Missing, unreadable, too large,
/// a directory without index, or outside `root`: `NotFound`.
pub(crate) fn read(root: &Path, file: &str, max_len: u64) -> FileOutcome {
    let Some(mut path) = contained(root, &root.join(file)) else {
        return FileOutcome::NotFound;
    };
    let Ok(mut meta) = fs::metadata(&path) else {
        return FileOutcome::NotFound;
    };
    if meta.is_dir() {
        let Some(index) = contained(root, &path.join(DIRECTORY_INDEX)) else {
            return FileOutcome::NotFound;
        };
        let Ok(m) = fs::metadata(&index) else {
            return FileOutcome::NotFound;
        };
        (path, meta) = (index, m);
    }
    if !meta.is_file() || meta.len() > max_len {
        return FileOutcome::NotFound;
    }
    let Ok(bytes) = fs::read(&path) else {
        return FileOutcome::NotFound;
    };
    let last_modified_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    FileOutcome::Found {
        length: bytes.len() as u64,
        content: String::from_utf8_lossy(&bytes).into_owned(),
        mime: mime_type(&path).map(str::to_string),
        last_modified_ms,
    }
}

/// The canonical form of `path` if it exists and lies inside `root`.
fn contained(root: &Path, path: &Path) -> Option<std::path::PathBuf> {
    let canonical = path.canonicalize().ok()?;
    canonical.starts_with(root).then_some(canonical)
}

fn mime_type(path: &Path) -> Option<&'static str> {
    path.to_str().and_then(actionhero_ws::server::mime_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_inside_and_refuses_outside() {
        let base = std::env::temp_dir().join(format!("ahws-files-{}", std::process::id()));
        let public = base.join("public");
        fs::create_dir_all(public.join("sub")).unwrap();
        fs::write(public.join("a.html"), "<p>a</p>").unwrap();
        fs::write(public.join("sub").join("index.html"), "idx").unwrap();
        fs::write(base.join("secret.txt"), "no").unwrap();
        let root = public.canonicalize().unwrap();

        match read(&root, "a.html", 1024) {
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
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read(&root, "sub", 1024),
            FileOutcome::Found { .. }
        ));
        assert_eq!(read(&root, "../secret.txt", 1024), FileOutcome::NotFound);
        assert_eq!(read(&root, "missing", 1024), FileOutcome::NotFound);
        assert_eq!(read(&root, "a.html", 3), FileOutcome::NotFound);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(base.join("secret.txt"), public.join("link.txt")).unwrap();
            assert_eq!(read(&root, "link.txt", 1024), FileOutcome::NotFound);
        }
        let _ = fs::remove_dir_all(&base);
    }
}

//! The file system calls behind the core's file decisions (the `file` verb and HTTP
//! static files): the core's [`FileLookup`](actionhero_ws::http::files::FileLookup)
//! decides which file may be served; these two functions answer its questions. Both
//! block: call them from `spawn_blocking`.

use std::path::Path;

use actionhero_ws::http::files::FileMeta;

/// The facts about one path, symlinks followed; `None` when it cannot be read.
pub fn stat(path: &Path) -> Option<FileMeta> {
    let canonical = path.canonicalize().ok()?;
    let meta = std::fs::metadata(&canonical).ok()?;
    Some(FileMeta::of(canonical, &meta))
}

/// A whole file's bytes; `None` when it cannot be read.
pub fn read(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actionhero_ws::http::files::{verb_outcome, FileLookup, DEFAULT_MAX_FILE_LEN};
    use actionhero_ws::server::FileOutcome;
    use std::fs;
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

    fn read_max(root: &Path, file: &str, max_len: u64) -> FileOutcome {
        verb_outcome(FileLookup::start(root, file, max_len), stat, read)
    }

    fn read_file(root: &Path, file: &str) -> FileOutcome {
        read_max(root, file, DEFAULT_MAX_FILE_LEN)
    }

    #[test]
    fn reads_files_and_directory_index() {
        let dir = tmp("read");
        let root = dir.join("public");
        match read_file(&root, "a.html") {
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
            read_file(&root, "sub"),
            FileOutcome::Found { ref content, .. } if content == "idx"
        ));
        assert_eq!(read_file(&root, "missing"), FileOutcome::NotFound);
        assert_eq!(read_file(&root, "../secret.txt"), FileOutcome::NotFound);
        assert_eq!(read_file(&root, "/etc/hosts"), FileOutcome::NotFound);
        assert_eq!(read_max(&root, "a.html", 3), FileOutcome::NotFound);
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_then_checked() {
        let dir = tmp("link");
        let root = dir.join("public");
        std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("out.txt")).unwrap();
        std::os::unix::fs::symlink(root.join("a.html"), root.join("in.html")).unwrap();
        assert_eq!(read_file(&root, "out.txt"), FileOutcome::NotFound);
        assert!(matches!(
            read_file(&root, "in.html"),
            FileOutcome::Found { .. }
        ));
        let _ = fs::remove_dir_all(&dir);
    }
}

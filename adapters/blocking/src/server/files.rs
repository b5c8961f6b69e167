//! The file system calls behind the core's file decisions (the `file` verb and HTTP
//! static files): the core's `FileLookup` decides which file may be served, under which
//! size limit and with which type; these two functions only answer its questions.

use std::path::Path;

use actionhero_ws::http::files::FileMeta;

/// The facts about one path, symlinks followed; `None` when it cannot be read.
pub(crate) fn stat(path: &Path) -> Option<FileMeta> {
    let canonical = path.canonicalize().ok()?;
    std::fs::metadata(&canonical)
        .ok()
        .map(|meta| FileMeta::of(canonical, &meta))
}

/// A whole file's bytes; `None` when it cannot be read.
pub(crate) fn read(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

//! Writing generated files to the output directory and comparing them with it.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::{Error, Output, OPENAPI_DIR};

/// The directories whose files all come from the generator. A file there
/// that the output lacks, such as the module of a removed provider, is
/// deleted by [`write_output`] and reported by [`check_output`]. Other
/// files under the output directory (`Cargo.lock`, `target/`, examples) are
/// left alone.
const OWNED_DIRS: [(&str, &str); 2] = [("rust/src/providers", "rs"), (OPENAPI_DIR, "json")];

/// The kind of difference between a file on disk and the generated one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DifferenceKind {
    /// The generator produces the file, and the directory lacks it.
    Missing,
    /// The file's content is not what the generator produces.
    Stale,
    /// The file is in a generated directory, and the generator no longer
    /// produces it.
    Unexpected,
}

/// One out-of-date file, by its path relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub path: String,
    pub kind: DifferenceKind,
}

/// Writes every file of `output` under `out_dir`, creating directories as
/// needed, and deletes the files of the generated directories that `output`
/// lacks. A file whose content is unchanged is not rewritten, so Cargo does
/// not rebuild it. Each file is written to a temporary file beside it and
/// renamed into place, so a reader never sees half a file.
///
/// Returns the number of files written or deleted.
pub fn write_output(out_dir: &Path, output: &Output) -> Result<usize, Error> {
    create_dir(out_dir)?;
    let mut changed = 0;
    for (relative, content) in &output.files {
        let path = out_dir.join(relative);
        if fs::read(&path).is_ok_and(|existing| existing == content.as_bytes()) {
            continue;
        }
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        write_atomically(&path, content.as_bytes())?;
        changed += 1;
    }
    for relative in unexpected_files(out_dir, output)? {
        let path = out_dir.join(&relative);
        fs::remove_file(&path).map_err(|source| Error::Io { path, source })?;
        changed += 1;
    }
    Ok(changed)
}

/// Compares `output` with the files under `out_dir`, and returns every
/// difference in path order; an empty list means the directory is up to
/// date.
pub fn check_output(out_dir: &Path, output: &Output) -> Result<Vec<Difference>, Error> {
    let mut differences = Vec::new();
    for (relative, content) in &output.files {
        let path = out_dir.join(relative);
        let kind = match fs::read(&path) {
            Ok(existing) if existing == content.as_bytes() => continue,
            Ok(_) => DifferenceKind::Stale,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => DifferenceKind::Missing,
            Err(source) => return Err(Error::Io { path, source }),
        };
        differences.push(Difference {
            path: relative.clone(),
            kind,
        });
    }
    for path in unexpected_files(out_dir, output)? {
        differences.push(Difference {
            path,
            kind: DifferenceKind::Unexpected,
        });
    }
    differences.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(differences)
}

/// Lists the files of the generated directories that `output` lacks.
fn unexpected_files(out_dir: &Path, output: &Output) -> Result<BTreeSet<String>, Error> {
    let mut unexpected = BTreeSet::new();
    for (dir, extension) in OWNED_DIRS {
        let path = out_dir.join(dir);
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(Error::Io { path, source }),
        };
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let relative = format!("{dir}/{name}");
            let generated_kind = Path::new(name).extension() == Some(extension.as_ref());
            if generated_kind && !output.files.contains_key(&relative) {
                unexpected.insert(relative);
            }
        }
    }
    Ok(unexpected)
}

fn create_dir(path: &Path) -> Result<(), Error> {
    fs::create_dir_all(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

fn write_atomically(path: &Path, content: &[u8]) -> Result<(), Error> {
    let io_error = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let temporary = temporary_path(path);
    let result = fs::File::create(&temporary)
        .and_then(|mut file| file.write_all(content))
        .and_then(|()| fs::rename(&temporary, path));
    if let Err(error) = result {
        let _ = fs::remove_file(&temporary);
        return Err(io_error(error));
    }
    Ok(())
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

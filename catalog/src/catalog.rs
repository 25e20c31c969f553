//! The set of providers: the embedded built-in files plus optional directories.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};
use serde::Serialize;

use crate::alias::{self, PendingAlias};
use crate::diagnostic::{Code, Diagnostic};
use crate::load::{diagnostic_at_pointer, parse_provider};
use crate::model::Provider;

/// `catalog/providers`, embedded at build time so that a server needs no files.
static BUILTIN_PROVIDERS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/providers");

/// The directory shown in diagnostics for built-in files, relative to the
/// repository root.
const BUILTIN_DISPLAY_DIR: &str = "catalog/providers";

/// Providers by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    providers: BTreeMap<String, Provider>,
}

/// Every diagnostic of a catalog that failed to load.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", render_all(.diagnostics))]
pub struct CatalogError {
    pub diagnostics: Vec<Diagnostic>,
}

/// The outcome of [`validate_paths`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct ValidationReport {
    pub files_checked: usize,
    pub diagnostics: Vec<Diagnostic>,
}

impl ValidationReport {
    pub fn is_valid(&self) -> bool {
        self.diagnostics.is_empty()
    }

    /// Renders every diagnostic as one JSON object per line (see
    /// [`Diagnostic`] for the keys), each line ending with a line break.
    /// A valid report renders as the empty string.
    pub fn to_json_lines(&self) -> String {
        let mut lines = String::new();
        for diagnostic in &self.diagnostics {
            lines.push_str(&diagnostic.to_json_line());
            lines.push('\n');
        }
        lines
    }
}

impl fmt::Display for ValidationReport {
    /// Renders every diagnostic, then a summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = plural(self.files_checked, "provider file");
        if self.diagnostics.is_empty() {
            return write!(f, "{files} valid");
        }
        let errors = plural(self.diagnostics.len(), "error");
        let rendered = render_all(&self.diagnostics);
        if self.files_checked == 0 {
            return write!(f, "{rendered}\n{errors}");
        }
        write!(f, "{rendered}\n{errors} in {files}")
    }
}

impl Catalog {
    /// Loads the built-in providers embedded from `catalog/providers`.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        let mut report = load_builtin();
        report.resolve_aliases(&|_| None);
        if !report.diagnostics.is_empty() {
            return Err(CatalogError {
                diagnostics: report.diagnostics,
            });
        }
        Ok(Catalog {
            providers: report.providers,
        })
    }

    /// Loads the built-in providers, then the `*.yaml` files of each
    /// directory in order. A file replaces a provider of the same name from
    /// an earlier directory or the built-in catalog. Fails with every diagnostic of every file, and also when a
    /// directory does not exist, contains a `*.yml` file or contains no `*.yaml`
    /// file.
    pub fn with_dirs<P: AsRef<Path>>(dirs: &[P]) -> Result<Catalog, CatalogError> {
        let mut loaded = load_builtin();
        for dir in dirs {
            loaded.start_layer();
            loaded.load_dir(dir.as_ref());
        }
        loaded.resolve_aliases(&|_| None);
        if !loaded.diagnostics.is_empty() {
            return Err(CatalogError {
                diagnostics: loaded.diagnostics,
            });
        }
        Ok(Catalog {
            providers: loaded.providers,
        })
    }

    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.providers.get(name)
    }

    /// Iterates over all providers, sorted by name.
    pub fn providers(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values()
    }

    pub fn len(&self) -> usize {
        self.providers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}

/// Validates provider files: each path is a file or a directory whose
/// `*.yaml` files are checked (not recursively), with the directory rules of
/// [`Catalog::with_dirs`]. An empty list checks the built-in catalog. Two
/// files that declare the same provider `name` are an error, and a file
/// named twice (directly and through its directory) is checked once.
pub fn validate_paths<P: AsRef<Path>>(paths: &[P]) -> ValidationReport {
    if paths.is_empty() {
        let mut loaded = load_builtin();
        loaded.resolve_aliases(&|_| None);
        return ValidationReport {
            files_checked: loaded.files_checked,
            diagnostics: loaded.diagnostics,
        };
    }
    let mut loaded = Loaded::default();
    for path in paths {
        let path = path.as_ref();
        if !path_exists(path, &mut loaded.diagnostics) {
            continue;
        }
        if path.is_dir() {
            loaded.load_dir(path);
        } else {
            loaded.load_file(path);
        }
    }
    // An alias in the given files may extend a built-in provider.
    let builtin = OnceCell::new();
    loaded.resolve_aliases(&|name| {
        builtin
            .get_or_init(|| Catalog::builtin().ok())
            .as_ref()?
            .get(name)
            .cloned()
    });
    ValidationReport {
        files_checked: loaded.files_checked,
        diagnostics: loaded.diagnostics,
    }
}

#[derive(Default)]
struct Loaded {
    providers: BTreeMap<String, Provider>,
    /// Alias files, resolved once every file is loaded.
    aliases: Vec<PendingAlias>,
    diagnostics: Vec<Diagnostic>,
    files_checked: usize,
    /// Provider name to the file that declared it, within the current layer
    /// (the built-in catalog, one `--catalog-dir`, or one validation run).
    /// A later layer may replace a provider, but one layer may not declare
    /// a name twice.
    names_in_layer: BTreeMap<String, String>,
    /// Canonical paths of the files read so far.
    seen_paths: BTreeSet<PathBuf>,
}

impl Loaded {
    /// Starts a layer whose files may replace providers of earlier layers.
    fn start_layer(&mut self) {
        self.names_in_layer.clear();
    }

    fn add(&mut self, file_name: &str, source: &str) {
        self.files_checked += 1;
        // A later file replaces an earlier provider of the same name, whether
        // either is an alias or not.
        if let Some(alias) = alias::detect(file_name, source) {
            if let Some(name) = alias.name() {
                self.providers.remove(name);
                self.aliases.retain(|earlier| earlier.name() != Some(name));
            }
            self.aliases.push(alias);
            return;
        }
        let provider = match parse_provider(file_name, source) {
            Ok(provider) => provider,
            Err(diagnostics) => {
                self.diagnostics.extend(diagnostics);
                return;
            }
        };
        if let Some(first) = self.names_in_layer.get(&provider.name) {
            let message = format!(
                "provider name `{}` is already declared by `{first}`",
                provider.name
            );
            let help = "give each provider its own `name`; to replace a provider, put the new file in a later `--catalog-dir` instead";
            let diagnostic =
                diagnostic_at_pointer(file_name, source, "/name", Code::DuplicateProvider, message)
                    .with_help(Some(help.to_owned()));
            self.diagnostics.push(diagnostic);
            return;
        }
        let name = provider.name.as_str();
        self.aliases.retain(|earlier| earlier.name() != Some(name));
        self.names_in_layer
            .insert(provider.name.clone(), file_name.to_owned());
        self.providers.insert(provider.name.clone(), provider);
    }

    /// Resolves the pending aliases against the loaded providers, then
    /// against `fallback`.
    fn resolve_aliases(&mut self, fallback: &dyn Fn(&str) -> Option<Provider>) {
        let pending = std::mem::take(&mut self.aliases);
        alias::resolve(
            &mut self.providers,
            pending,
            fallback,
            &mut self.diagnostics,
        );
    }

    fn load_file(&mut self, path: &Path) {
        // A path that cannot be resolved is left to the read below, which
        // reports the problem.
        if let Ok(canonical) = path.canonicalize() {
            if !self.seen_paths.insert(canonical) {
                return;
            }
        }
        let file_name = path.display().to_string();
        if path.extension().is_none_or(|ext| ext != "yaml") {
            self.files_checked += 1;
            let message = "provider files must have the extension `.yaml`".to_owned();
            let help = match (path.file_name(), path.file_stem()) {
                (Some(name), Some(stem)) if path.extension().is_some_and(|ext| ext == "yml") => {
                    format!(
                        "rename `{}` to `{}.yaml`",
                        name.to_string_lossy(),
                        stem.to_string_lossy()
                    )
                }
                _ => "rename the file to `<provider name>.yaml`".to_owned(),
            };
            let diagnostic = Diagnostic::for_file(&file_name, Code::InvalidExtension, message)
                .with_help(Some(help));
            self.diagnostics.push(diagnostic);
            return;
        }
        match fs::read_to_string(path) {
            Ok(source) => self.add(&file_name, &source),
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                self.files_checked += 1;
                self.diagnostics.push(not_utf8(&file_name));
            }
            Err(error) => {
                self.files_checked += 1;
                let message = format!("failed to read provider file: {error}");
                self.diagnostics
                    .push(Diagnostic::for_file(&file_name, Code::ReadFailed, message));
            }
        }
    }
}

fn load_builtin() -> Loaded {
    let mut loaded = Loaded::default();
    let mut files: Vec<_> = BUILTIN_PROVIDERS
        .files()
        .filter(|file| file.path().extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort_by_key(|file| file.path());
    for file in files {
        let file_name = format!("{BUILTIN_DISPLAY_DIR}/{}", file.path().display());
        match file.contents_utf8() {
            Some(source) => loaded.add(&file_name, source),
            None => {
                loaded.files_checked += 1;
                loaded.diagnostics.push(not_utf8(&file_name));
            }
        }
    }
    loaded
}

impl Loaded {
    /// Loads the `*.yaml` files directly inside `dir`, in name order. A
    /// `*.yml` file is reported as misnamed and other files are ignored, but
    /// a directory with neither is an error.
    fn load_dir(&mut self, dir: &Path) {
        if !path_exists(dir, &mut self.diagnostics) {
            return;
        }
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) => {
                let message = format!("failed to read catalog directory: {error}");
                let dir_name = dir.display().to_string();
                self.diagnostics
                    .push(Diagnostic::for_file(&dir_name, Code::ReadFailed, message));
                return;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_file() && has_extension(path, &["yaml", "yml"]))
            .collect();
        files.sort();
        // A directory of only `*.yml` files gets the rename hints instead.
        if files.is_empty() {
            let message = format!("no provider files (*.yaml) in `{}`", dir.display());
            let help = "add `<provider name>.yaml` files to the directory or pass another one";
            self.diagnostics.push(
                Diagnostic::for_file(&dir.display().to_string(), Code::NoProviderFiles, message)
                    .with_help(Some(help.to_owned())),
            );
            return;
        }
        for file in files {
            self.load_file(&file);
        }
    }
}

fn not_utf8(file_name: &str) -> Diagnostic {
    let message = "provider file is not valid UTF-8".to_owned();
    let help = "save the file with UTF-8 encoding";
    Diagnostic::for_file(file_name, Code::InvalidUtf8, message).with_help(Some(help.to_owned()))
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .is_some_and(|ext| extensions.iter().any(|wanted| ext == *wanted))
}

/// Checks that `path` exists, else records "path `X` does not exist".
fn path_exists(path: &Path, diagnostics: &mut Vec<Diagnostic>) -> bool {
    // An error other than "not found" (for example a permission problem)
    // is left to the read that follows, which reports it.
    if path.try_exists().unwrap_or(true) {
        return true;
    }
    let name = path.display().to_string();
    let message = format!("path `{name}` does not exist");
    diagnostics.push(Diagnostic::for_file(&name, Code::PathNotFound, message));
    false
}

/// Renders diagnostics with a blank line between two of them. Each rendered
/// diagnostic ends with a line break.
fn render_all(diagnostics: &[Diagnostic]) -> String {
    let rendered: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    rendered.join("\n")
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

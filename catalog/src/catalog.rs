//! The set of providers: the embedded built-in files plus optional directories.

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::str::Utf8Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use serde::Serialize;

use crate::alias::{self, Fallback, PendingAlias};
use crate::diagnostic::{Code, Diagnostic};
use crate::load::{diagnostic_at_pointer, parse_converted, parse_provider};
use crate::model::Provider;
use crate::positions::Span;

/// One file of `catalog/providers`, embedded at build time so that a server
/// needs no files.
struct BuiltinFile {
    /// The file name, such as `github.yaml`.
    name: &'static str,
    source: &'static [u8],
    /// The document as JSON text, which `build.rs` writes for a file whose
    /// YAML parses without any diagnostic of its own (see [`parse_converted`]).
    json: Option<&'static str>,
}

/// Every `*.yaml` file of `catalog/providers`, sorted by name.
static BUILTIN_FILES: &[BuiltinFile] = include!(concat!(env!("OUT_DIR"), "/builtin_providers.rs"));

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
        report.resolve_aliases(&());
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
        let mut steps = Vec::new();
        for dir in dirs {
            steps.push(Step::StartLayer);
            list_dir(dir.as_ref(), &mut steps);
        }
        loaded.apply(steps);
        loaded.resolve_aliases(&());
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
        loaded.resolve_aliases(&());
        return ValidationReport {
            files_checked: loaded.files_checked,
            diagnostics: loaded.diagnostics,
        };
    }
    let mut steps = Vec::new();
    for path in paths {
        let path = path.as_ref();
        if let Some(missing) = path_not_found(path) {
            steps.push(Step::Diagnostic(missing));
        } else if path.is_dir() {
            list_dir(path, &mut steps);
        } else {
            steps.push(Step::File {
                path: path.to_path_buf(),
                canonical: None,
            });
        }
    }
    let mut loaded = Loaded::default();
    loaded.apply(steps);
    // An alias in the given files may extend a built-in provider, but not a
    // built-in alias, which would make a chain.
    if !loaded.aliases.is_empty() {
        loaded.known_alias_targets = alias::targets(&load_builtin().aliases);
    }
    loaded.resolve_aliases(&BuiltinFallback::default());
    ValidationReport {
        files_checked: loaded.files_checked,
        diagnostics: loaded.diagnostics,
    }
}

/// The built-in catalog as the fallback of [`validate_paths`], loaded on
/// first use.
#[derive(Default)]
struct BuiltinFallback {
    catalog: OnceCell<Option<Catalog>>,
}

impl BuiltinFallback {
    fn catalog(&self) -> Option<&Catalog> {
        self.catalog
            .get_or_init(|| Catalog::builtin().ok())
            .as_ref()
    }
}

impl Fallback for BuiltinFallback {
    fn get(&self, name: &str) -> Option<Provider> {
        self.catalog()?.get(name).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.catalog()
            .map(|catalog| catalog.providers.keys().cloned().collect())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Loaded {
    providers: BTreeMap<String, Provider>,
    /// Alias files, resolved once every file is loaded.
    aliases: Vec<PendingAlias>,
    /// Aliases of the fallback catalog by name, with their targets.
    known_alias_targets: BTreeMap<String, String>,
    diagnostics: Vec<Diagnostic>,
    files_checked: usize,
    /// Provider name to the file that declared it, within the current layer
    /// (the built-in catalog, one `--catalog-dir`, or one validation run).
    /// A later layer may replace a provider, but one layer may not declare
    /// a name twice.
    names_in_layer: BTreeMap<String, String>,
    /// Canonical paths of the files read so far.
    seen_paths: HashSet<PathBuf>,
}

/// One step of loading directories and files, in the order that its outcome
/// joins the catalog.
enum Step {
    /// A problem found while listing the paths: a missing path, or a
    /// directory that cannot be read or contains no provider file.
    Diagnostic(Diagnostic),
    /// The start of a layer whose files may replace providers of earlier
    /// layers (one `--catalog-dir`).
    StartLayer,
    /// A file to read and parse, with its canonical path when listing its
    /// directory found it.
    File {
        path: PathBuf,
        canonical: Option<PathBuf>,
    },
}

/// A provider file read and parsed, before it joins the catalog.
enum ParsedFile {
    Alias(PendingAlias),
    /// Boxed, because a `Provider` is more than ten times the size of the
    /// other variant.
    Provider(Result<Box<Provider>, Vec<Diagnostic>>),
}

/// The work of [`read_and_parse`]: everything about one file that does not
/// depend on the other files, so that files can be processed in parallel.
struct ReadFile {
    /// The canonical path, so that a file named twice is checked once.
    /// `None` when the path cannot be resolved, and the read then reports why.
    canonical: Option<PathBuf>,
    file_name: String,
    outcome: ReadOutcome,
}

enum ReadOutcome {
    Parsed {
        source: String,
        parsed: ParsedFile,
    },
    /// A misnamed, unreadable or non-UTF-8 file. It counts as checked.
    Rejected(Diagnostic),
}

/// Parses one file, or sets it aside as an alias file to resolve once every
/// file is loaded.
fn parse_file(file_name: &str, source: &str) -> ParsedFile {
    match alias::detect(file_name, source) {
        Some(alias) => ParsedFile::Alias(alias),
        None => ParsedFile::Provider(parse_provider(file_name, source).map(Box::new)),
    }
}

impl Loaded {
    /// Starts a layer whose files may replace providers of earlier layers.
    fn start_layer(&mut self) {
        self.names_in_layer.clear();
    }

    /// Adds the outcome of [`parse_file`] for `source`.
    fn add(&mut self, file_name: &str, source: &str, parsed: ParsedFile) {
        self.files_checked += 1;
        // A later file replaces an earlier provider of the same name, whether
        // either is an alias or not.
        let provider = match parsed {
            ParsedFile::Alias(alias) => {
                if let Some(name) = alias.name() {
                    self.providers.remove(name);
                    self.aliases.retain(|earlier| earlier.name() != Some(name));
                }
                self.aliases.push(alias);
                return;
            }
            ParsedFile::Provider(Ok(provider)) => *provider,
            ParsedFile::Provider(Err(diagnostics)) => {
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
    fn resolve_aliases(&mut self, fallback: &dyn Fallback) {
        let pending = std::mem::take(&mut self.aliases);
        alias::resolve(
            &mut self.providers,
            pending,
            fallback,
            &self.known_alias_targets,
            &mut self.diagnostics,
        );
    }

    /// Reads and parses the files of `steps` in parallel, then adds the
    /// results in order, so that diagnostics and replacements come out as a
    /// load on one thread produces them.
    fn apply(&mut self, steps: Vec<Step>) {
        let read = |step: &Step| match step {
            Step::File { path, canonical } => Some(read_and_parse(path, canonical.clone())),
            Step::Diagnostic(_) | Step::StartLayer => None,
        };
        process_in_order(steps, read, |step, read| match (step, read) {
            (Step::Diagnostic(diagnostic), _) => self.diagnostics.push(diagnostic),
            (Step::StartLayer, _) => self.start_layer(),
            (Step::File { .. }, Some(file)) => self.add_read(file),
            (Step::File { path, .. }, None) => {
                unreachable!("`{}` was not read", path.display())
            }
        });
    }

    fn add_read(&mut self, file: ReadFile) {
        if let Some(canonical) = file.canonical {
            if !self.seen_paths.insert(canonical) {
                return;
            }
        }
        match file.outcome {
            ReadOutcome::Parsed { source, parsed } => self.add(&file.file_name, &source, parsed),
            ReadOutcome::Rejected(diagnostic) => {
                self.files_checked += 1;
                self.diagnostics.push(diagnostic);
            }
        }
    }
}

/// Reads one provider file and parses it, or describes why it cannot be
/// read. `canonical` is the file's canonical path if already known.
fn read_and_parse(path: &Path, canonical: Option<PathBuf>) -> ReadFile {
    // A path that cannot be resolved is left to the read below, which
    // reports the problem.
    let canonical = canonical.or_else(|| path.canonicalize().ok());
    let file_name = path.display().to_string();
    let rejected = |diagnostic| ReadFile {
        canonical: canonical.clone(),
        file_name: file_name.clone(),
        outcome: ReadOutcome::Rejected(diagnostic),
    };
    if path.extension().is_none_or(|ext| ext != "yaml") {
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
        let diagnostic =
            Diagnostic::for_file(&file_name, Code::InvalidExtension, message).with_help(Some(help));
        return rejected(diagnostic);
    }
    // A FIFO or a device would block the read or never end, so only a
    // regular file (or a link to one) is read.
    let is_regular = fs::metadata(path).map(|metadata| metadata.is_file());
    if let Ok(false) = is_regular {
        let diagnostic = Diagnostic::for_file(
            &file_name,
            Code::ReadFailed,
            "failed to read provider file: it is not a regular file".to_owned(),
        )
        .with_help(Some(
            "give the path of a YAML file, or of a directory of them".to_owned(),
        ));
        return rejected(diagnostic);
    }
    match fs::read(path) {
        Ok(bytes) => {
            let source = match String::from_utf8(bytes) {
                Ok(source) => source,
                Err(error) => {
                    return rejected(not_utf8(&file_name, error.as_bytes(), error.utf8_error()))
                }
            };
            let source = match source.strip_prefix(BYTE_ORDER_MARK) {
                Some(rest) => rest.to_owned(),
                None => source,
            };
            let parsed = parse_file(&file_name, &source);
            ReadFile {
                canonical,
                file_name,
                outcome: ReadOutcome::Parsed { source, parsed },
            }
        }
        Err(error) => {
            let message = format!("failed to read provider file: {error}");
            rejected(Diagnostic::for_file(&file_name, Code::ReadFailed, message))
        }
    }
}

/// The largest number of threads a load uses, so that a load on a machine
/// with many cores does not start a thread per core for a few milliseconds
/// of work each.
const MAX_LOAD_THREADS: usize = 8;

/// The smallest number of files that a load gives each thread, so that a
/// small catalog or a test's few files load on the calling thread.
const MIN_FILES_PER_THREAD: usize = 32;

/// Runs `work` on every item, then `apply` on each item and its result, in
/// input order. `work` runs on up to [`MAX_LOAD_THREADS`] threads, as many
/// as the process may run at once (one when it is pinned to one core), with
/// at least [`MIN_FILES_PER_THREAD`] items each. On one thread each result
/// is applied as soon as it is ready, so results are not held in memory.
fn process_in_order<T: Sync, R: Send>(
    items: Vec<T>,
    work: impl Fn(&T) -> R + Sync,
    mut apply: impl FnMut(T, R),
) {
    let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let threads = cores
        .min(MAX_LOAD_THREADS)
        .min(items.len() / MIN_FILES_PER_THREAD)
        .max(1);
    if threads == 1 {
        for item in items {
            let result = work(&item);
            apply(item, result);
        }
        return;
    }
    let results = map_in_parallel(&items, threads, work);
    for (item, result) in items.into_iter().zip(results) {
        apply(item, result);
    }
}

/// Runs `work` on every item on `threads` threads and returns the results
/// in input order.
fn map_in_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    // Each thread takes the next unclaimed item, so a thread that drew
    // cheap files takes more of them.
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else {
                return done;
            };
            done.push((index, work(item)));
        }
    };
    let mut slots: Vec<Option<R>> = items.iter().map(|_| None).collect();
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(worker)).collect();
        for handle in handles {
            // A panic in a worker is a bug in the loader. It reaches the
            // caller as it would in a load on one thread.
            let done = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            for (index, result) in done {
                slots[index] = Some(result);
            }
        }
    });
    slots
        .into_iter()
        .map(|slot| slot.expect("every item is claimed by one thread"))
        .collect()
}

fn load_builtin() -> Loaded {
    let mut loaded = Loaded::default();
    let parse = |file: &&BuiltinFile| {
        let file_name = format!("{BUILTIN_DISPLAY_DIR}/{}", file.name);
        let source = std::str::from_utf8(file.source).map(strip_byte_order_mark);
        let parsed = match (source, file.json) {
            (Ok(source), Some(json)) => Some(ParsedFile::Provider(
                parse_converted(&file_name, source, json).map(Box::new),
            )),
            (Ok(source), None) => Some(parse_file(&file_name, source)),
            (Err(_), _) => None,
        };
        (file_name, source, parsed)
    };
    let files: Vec<&BuiltinFile> = BUILTIN_FILES.iter().collect();
    process_in_order(files, parse, |file, (file_name, source, parsed)| {
        match (source, parsed) {
            (Ok(source), Some(parsed)) => loaded.add(&file_name, source, parsed),
            (Err(error), _) => {
                loaded.files_checked += 1;
                loaded
                    .diagnostics
                    .push(not_utf8(&file_name, file.source, error));
            }
            (Ok(_), None) => unreachable!("`parse` parses every UTF-8 file"),
        }
    });
    loaded
}

/// Lists the `*.yaml` and `*.yml` files directly inside `dir`, in name
/// order, as steps. [`read_and_parse`] reports a `*.yml` file as misnamed.
/// Other files are ignored, but a directory with neither kind is an error.
fn list_dir(dir: &Path, steps: &mut Vec<Step>) {
    if let Some(missing) = path_not_found(dir) {
        steps.push(Step::Diagnostic(missing));
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            let message = format!("failed to read catalog directory: {error}");
            let dir_name = dir.display().to_string();
            steps.push(Step::Diagnostic(Diagnostic::for_file(
                &dir_name,
                Code::ReadFailed,
                message,
            )));
            return;
        }
    };
    // Canonicalizing each file would resolve every directory of its path
    // again, one system call per component.
    let canonical_dir = dir.canonicalize().ok();
    let mut outside_links = Vec::new();
    let mut dangling_links = Vec::new();
    let mut files: Vec<(PathBuf, Option<PathBuf>)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            // The entry's own type, unless it is a link (which `Path::is_file`
            // follows, so a link to a provider file counts) or unknown.
            let plain_type = entry.file_type().ok().filter(|kind| !kind.is_symlink());
            // A link that leaves the directory is not read: diagnostics quote
            // the lines of the file they are about, and a pull request that
            // adds a link to a host file would get that file quoted back.
            let is_link = entry.file_type().is_ok_and(|kind| kind.is_symlink());
            if is_link && has_extension(&path, &["yaml", "yml"]) {
                let target = path.canonicalize();
                if target.is_err() && !path.exists() {
                    dangling_links.push(path);
                    return None;
                }
                // A link to a provider file of the same directory is left
                // out: the file itself is read under its own name, so its
                // diagnostics do not blame the link's name.
                let sibling = match (&canonical_dir, &target) {
                    (Some(dir), Ok(target)) => {
                        target.parent() == Some(dir.as_path())
                            && has_extension(target, &["yaml", "yml"])
                    }
                    _ => false,
                };
                if sibling {
                    return None;
                }
                let inside = match (&canonical_dir, target) {
                    (Some(dir), Ok(target)) => target.starts_with(dir),
                    _ => true,
                };
                if !inside {
                    outside_links.push(path);
                    return None;
                }
            }
            let is_file = match plain_type {
                Some(kind) => kind.is_file(),
                None => path.is_file(),
            };
            if !is_file || !has_extension(&path, &["yaml", "yml"]) {
                return None;
            }
            // Unless the file itself is a link, its canonical path is the
            // directory's joined with its name. A link is resolved on reading.
            let canonical = match (&canonical_dir, plain_type) {
                (Some(canonical_dir), Some(_)) => Some(canonical_dir.join(entry.file_name())),
                _ => None,
            };
            Some((path, canonical))
        })
        .collect();
    // Every path starts with `dir`, so comparing the file names orders the
    // paths as comparing them component by component would, at less cost.
    files.sort_by(|(left, _), (right, _)| left.file_name().cmp(&right.file_name()));
    outside_links.sort();
    for link in outside_links {
        let message = format!(
            "`{}` is a symbolic link to a file outside `{}`, which is not read",
            link.display(),
            dir.display()
        );
        let help = "replace the link with the provider file itself";
        steps.push(Step::Diagnostic(
            Diagnostic::for_file(&link.display().to_string(), Code::ReadFailed, message)
                .with_help(Some(help.to_owned())),
        ));
    }
    dangling_links.sort();
    for link in dangling_links {
        let target = fs::read_link(&link)
            .map(|target| target.display().to_string())
            .unwrap_or_default();
        let message = format!(
            "`{}` is a symbolic link to `{target}`, which does not exist",
            link.display()
        );
        let help = "point the link at an existing provider file, or remove it";
        steps.push(Step::Diagnostic(
            Diagnostic::for_file(&link.display().to_string(), Code::ReadFailed, message)
                .with_help(Some(help.to_owned())),
        ));
    }
    // A directory of only `*.yml` files gets the rename hints instead.
    if files.is_empty() {
        let message = format!("no provider files (*.yaml) in `{}`", dir.display());
        let help = "add `<provider name>.yaml` files to the directory or pass another one";
        steps.push(Step::Diagnostic(
            Diagnostic::for_file(&dir.display().to_string(), Code::NoProviderFiles, message)
                .with_help(Some(help.to_owned())),
        ));
        return;
    }
    steps.extend(
        files
            .into_iter()
            .map(|(path, canonical)| Step::File { path, canonical }),
    );
}

/// Creates the diagnostic for `bytes`, a file that is not UTF-8, at the
/// first byte that `error` names as invalid.
fn not_utf8(file_name: &str, bytes: &[u8], error: Utf8Error) -> Diagnostic {
    let valid = &bytes[..error.valid_up_to()];
    let line_start = valid
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |i| i + 1);
    let before = std::str::from_utf8(&valid[line_start..]).unwrap_or_default();
    let span = Span {
        line: valid.iter().filter(|&&byte| byte == b'\n').count() + 1,
        column: before.chars().count() + 1,
        width: 1,
    };
    // `error_len` is `None` when the file ends inside a character.
    let invalid: Vec<String> = bytes[error.valid_up_to()..]
        .iter()
        .take(error.error_len().unwrap_or(1))
        .map(|byte| format!("0x{byte:02x}"))
        .collect();
    let message = format!(
        "provider file is not valid UTF-8: invalid byte {}",
        invalid.join(" ")
    );
    let help = "save the file with UTF-8 encoding";
    // The line is shown with the invalid sequence replaced by one U+FFFD.
    let shown = String::from_utf8_lossy(bytes);
    Diagnostic::at(file_name, &shown, span, Code::InvalidUtf8, message)
        .with_help(Some(help.to_owned()))
}

/// U+FEFF at the start of a file, which some editors write to mark UTF-8.
const BYTE_ORDER_MARK: char = '\u{feff}';

/// Removes a leading byte-order mark, which is not part of the YAML text.
/// Lines and columns of diagnostics are counted after it, as editors show
/// them.
fn strip_byte_order_mark(source: &str) -> &str {
    source.strip_prefix(BYTE_ORDER_MARK).unwrap_or(source)
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .is_some_and(|ext| extensions.iter().any(|wanted| ext == *wanted))
}

/// Returns "path `X` does not exist" when `path` does not exist.
fn path_not_found(path: &Path) -> Option<Diagnostic> {
    // An error other than "not found" (for example a permission problem)
    // is left to the read that follows, which reports it.
    if path.try_exists().unwrap_or(true) {
        return None;
    }
    let name = path.display().to_string();
    let message = format!("path `{name}` does not exist");
    let help = "check the path for a typo, or pass a path that exists";
    Some(Diagnostic::for_file(&name, Code::PathNotFound, message).with_help(Some(help.to_owned())))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn provider_file(name: &str) -> String {
        format!(
            "name: {name}\ndisplay_name: Demo {name}\nauth:\n  mode: basic\nproxy:\n  base_url: https://api.example.com\n"
        )
    }

    #[test]
    fn map_in_parallel_keeps_input_order() {
        let items: Vec<usize> = (0..1000).collect();

        let doubled = map_in_parallel(&items, 3, |n| n * 2);

        let expected: Vec<usize> = items.iter().map(|n| n * 2).collect();
        assert_eq!(doubled, expected);
    }

    #[test]
    fn process_in_order_applies_in_input_order() {
        for count in [5, 1000] {
            let items: Vec<usize> = (0..count).collect();
            let mut applied = Vec::new();

            process_in_order(items, |n| n * 2, |n, doubled| applied.push((n, doubled)));

            let expected: Vec<(usize, usize)> = (0..count).map(|n| (n, n * 2)).collect();
            assert_eq!(applied, expected, "{count} items");
        }
    }

    #[cfg(unix)]
    #[test]
    fn linked_file_is_checked_once() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("demo.yaml"), provider_file("demo")).unwrap();
        std::os::unix::fs::symlink("demo.yaml", dir.path().join("link.yaml")).unwrap();

        let report = validate_paths(&[dir.path()]);

        assert!(report.is_valid(), "{report}");
        assert_eq!(report.files_checked, 1);
    }

    #[cfg(unix)]
    #[test]
    fn link_sorted_first_does_not_take_the_blame() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("demo.yaml"), provider_file("demo")).unwrap();
        std::os::unix::fs::symlink("demo.yaml", dir.path().join("a-link.yaml")).unwrap();
        std::os::unix::fs::symlink("demo.yaml", dir.path().join("b-link.yaml")).unwrap();

        let report = validate_paths(&[dir.path()]);

        assert!(report.is_valid(), "{report}");
        assert_eq!(report.files_checked, 1);
    }

    #[test]
    fn alias_of_builtin_alias_is_a_chain() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("al2.yaml"),
            "# Test alias.\nname: al2\nalias: quickbooks-sandbox\n",
        )
        .unwrap();

        let report = validate_paths(&[dir.path()]);
        let rendered = report.to_string();

        assert!(!report.is_valid(), "{rendered}");
        assert!(rendered.contains("alias-chain"), "{rendered}");
        assert!(rendered.contains("alias: quickbooks"), "{rendered}");
    }

    #[cfg(unix)]
    #[test]
    fn link_outside_directory_is_not_read() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.yaml");
        fs::write(&secret, "root:*:20228:0:99999:7:::\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("demo.yaml"), provider_file("demo")).unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join("shadow.yaml")).unwrap();

        let report = validate_paths(&[dir.path()]);
        let rendered = report.to_string();

        assert!(!report.is_valid(), "{rendered}");
        assert_eq!(report.files_checked, 1);
        assert!(rendered.contains("symbolic link"), "{rendered}");
        assert!(!rendered.contains("root:*"), "{rendered}");
    }

    #[cfg(unix)]
    #[test]
    fn dangling_link_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("demo.yaml"), provider_file("demo")).unwrap();
        std::os::unix::fs::symlink("gone.yaml", dir.path().join("ghost.yaml")).unwrap();

        let report = validate_paths(&[dir.path()]);
        let rendered = report.to_string();

        assert!(!report.is_valid(), "{rendered}");
        assert_eq!(report.files_checked, 1);
        assert!(
            rendered.contains("is a symbolic link to `gone.yaml`, which does not exist"),
            "{rendered}"
        );
        assert!(rendered.contains("ghost.yaml"), "{rendered}");
    }

    #[test]
    fn parallel_load_reports_in_path_order() {
        // Enough files for several threads, with problems spread over both
        // directories: the diagnostics must come out in the order of a load
        // on one thread.
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        for index in 0..100 {
            let name = format!("p{index:03}");
            let source = match index {
                7 => "name: [\n".to_owned(),
                42 => provider_file("other"),
                _ => provider_file(&name),
            };
            fs::write(first.path().join(format!("{name}.yaml")), source).unwrap();
            let name = format!("q{index:03}");
            let mut source = provider_file(&name);
            if index == 50 {
                source.push_str("colour: red\n");
            }
            fs::write(second.path().join(format!("{name}.yaml")), source).unwrap();
        }
        for name in ["p020", "p030"] {
            fs::write(
                second.path().join(format!("{name}.yaml")),
                provider_file(name),
            )
            .unwrap();
        }

        let report = validate_paths(&[first.path(), second.path()]);

        let found: Vec<(String, Code)> = report
            .diagnostics
            .iter()
            .map(|diagnostic| {
                let file = Path::new(&diagnostic.file).file_name().unwrap();
                (file.to_string_lossy().into_owned(), diagnostic.code)
            })
            .collect();
        let expected = [
            ("p007.yaml", Code::InvalidYaml),
            ("p042.yaml", Code::NameMismatch),
            ("p020.yaml", Code::DuplicateProvider),
            ("p030.yaml", Code::DuplicateProvider),
            ("q050.yaml", Code::UnknownField),
        ];
        let expected: Vec<(String, Code)> = expected
            .into_iter()
            .map(|(file, code)| (file.to_owned(), code))
            .collect();
        assert_eq!(found, expected);
        assert_eq!(report.files_checked, 202);
    }
}

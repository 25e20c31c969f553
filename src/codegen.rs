//! `latchkey codegen`: writes the typed Rust client crate and the OpenAPI
//! documents of the catalog, or checks that a directory contains them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use latchkey_catalog::Catalog;
use latchkey_codegen::{check_output, generate, write_output, DifferenceKind};

#[derive(Debug, Args)]
pub struct CodegenArgs {
    /// Output directory: the crate goes to `DIR/rust/`, the OpenAPI
    /// documents to `DIR/openapi/`. Created when missing. A file of
    /// `DIR/openapi/` or `DIR/rust/src/providers/` that carries the
    /// generated header and that this run does not produce is deleted and
    /// listed. Files are first written to a temporary directory beside DIR,
    /// so DIR's parent must be writable, and a failed run leaves DIR as it
    /// was.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,

    /// Generate only this provider; repeatable. Default: every provider.
    #[arg(long = "provider", value_name = "NAME")]
    providers: Vec<String>,

    /// Write nothing; exit 1 and list the files of DIR that are missing or
    /// out of date.
    #[arg(long)]
    check: bool,

    /// Extra directory of provider files; overrides built-in providers of the
    /// same name. Repeatable.
    #[arg(long, value_name = "DIR")]
    catalog_dir: Vec<PathBuf>,
}

/// Runs the command; a failed check returns exit status 1.
pub fn run(args: &CodegenArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::with_dirs(&args.catalog_dir)
        .context("the provider catalog is invalid; nothing was generated")?;

    let output = generate(&catalog, &args.providers)?;
    let out = args.out.display();
    if !args.check {
        let report = write_output(&args.out, &output)
            .with_context(|| format!("cannot write the generated files to {out}"))?;
        for deleted in &report.deleted {
            println!("deleted {out}/{deleted}: not generated any more");
        }
        println!(
            "generated {} files in {out} ({} written, {} deleted)",
            output.files.len(),
            report.written,
            report.deleted.len()
        );
        return Ok(ExitCode::SUCCESS);
    }

    let differences = check_output(&args.out, &output)
        .with_context(|| format!("cannot read the generated files in {out}"))?;
    if differences.is_empty() {
        println!("{out} is up to date ({} files)", output.files.len());
        return Ok(ExitCode::SUCCESS);
    }

    for difference in &differences {
        let state = match difference.kind {
            DifferenceKind::Missing => "missing",
            DifferenceKind::Stale => "out of date",
            DifferenceKind::Unexpected => "not generated any more",
        };
        eprintln!("{out}/{}: {state}", difference.path);
    }

    let command = fix_command(args);
    eprintln!(
        "error: {} generated files in {out} differ from the catalog; run `{command}` to update them",
        differences.len()
    );
    Ok(ExitCode::FAILURE)
}

/// Returns the command that rewrites the directory that `args` checked,
/// with each argument quoted for a POSIX shell where it needs it.
fn fix_command(args: &CodegenArgs) -> String {
    let mut words = vec!["latchkey".to_owned(), "codegen".to_owned()];
    words.push("--out".to_owned());
    words.push(args.out.to_string_lossy().into_owned());
    for provider in &args.providers {
        words.push("--provider".to_owned());
        words.push(provider.clone());
    }
    for dir in &args.catalog_dir {
        words.push("--catalog-dir".to_owned());
        words.push(dir.to_string_lossy().into_owned());
    }
    let quoted: Vec<String> = words
        .iter()
        .map(|word| match shlex::try_quote(word) {
            Ok(quoted) => quoted.into_owned(),
            // A NUL byte cannot reach a command line, so this is only a
            // fallback that still shows the value.
            Err(_) => format!("{word:?}"),
        })
        .collect();
    quoted.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(out: &str, providers: &[&str], catalog_dirs: &[&str]) -> CodegenArgs {
        CodegenArgs {
            out: PathBuf::from(out),
            providers: providers.iter().map(|name| (*name).to_owned()).collect(),
            check: true,
            catalog_dir: catalog_dirs.iter().map(PathBuf::from).collect(),
        }
    }

    #[test]
    fn fix_command_quotes_arguments() {
        let plain = fix_command(&args("out", &["github"], &[]));
        assert_eq!(plain, "latchkey codegen --out out --provider github");

        let spaced = fix_command(&args("my dir", &["github"], &["it's here"]));
        assert_eq!(
            spaced,
            r#"latchkey codegen --out 'my dir' --provider github --catalog-dir "it's here""#
        );
        let words = shlex::split(&spaced).expect("a command a shell can split");
        assert_eq!(words[3], "my dir");
        assert_eq!(words[7], "it's here");
    }
}

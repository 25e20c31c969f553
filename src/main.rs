//! The `latchkey` command: `serve` runs the HTTP API, `catalog validate`
//! checks provider files, `catalog show` prints what Latchkey would send for
//! a provider, `catalog import` converts Nango's provider catalog, and
//! `codegen` writes typed clients and OpenAPI documents for the catalog.

mod codegen;
mod show;

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use latchkey_catalog::{import_nango, validate_paths, Catalog};
use latchkey_server::keys::{self, KeyOverrides};
use latchkey_server::{parse_public_url, Server, ServerConfig, TlsSettings, TTL_RANGE_SECONDS};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator. Loading the catalog at start
/// allocates and frees many small strings, maps and vectors, and glibc's
/// malloc and free took about a quarter of its instructions.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "A credential broker for AI agents"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve(ServeArgs),
    /// Work with provider definitions.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Generate a typed Rust client crate and OpenAPI documents for the
    /// catalog, or check that a directory contains them.
    Codegen(codegen::CodegenArgs),
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Check provider files against the schema; exits 1 on any error.
    Validate {
        /// Provider files or directories of `*.yaml` files; the built-in
        /// catalog when none is given.
        paths: Vec<PathBuf>,

        /// Output format: `human` prints rustc-style diagnostics on stderr,
        /// `json` prints one JSON object per diagnostic on stdout.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print a provider's resolved URLs and where the credential goes,
    /// without sending anything.
    Show(show::ShowArgs),
    /// Convert another catalog's provider definitions into Latchkey files.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// Catalog format of FILE: `nango` reads the `providers.yaml` of the
    /// npm package `@nangohq/providers`.
    #[arg(long, value_enum)]
    from: ImportSource,

    /// The catalog file to convert.
    file: PathBuf,

    /// Directory the provider files are written to; created when missing.
    #[arg(long)]
    out: PathBuf,

    /// Report format: `human` prints counts and one line per entry not
    /// converted, `json` prints one JSON object.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ImportSource {
    Nango,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address and port to listen on; port 0 picks a free port.
    #[arg(long, env = "LATCHKEY_LISTEN", default_value = "127.0.0.1:3003")]
    listen: SocketAddr,

    /// Directory for the store and the generated key files.
    #[arg(long, env = "LATCHKEY_DATA_DIR", default_value = "./latchkey-data")]
    data_dir: PathBuf,

    /// Extra directory of provider files; overrides built-in providers of the
    /// same name. Repeatable; comma-separated in the environment variable.
    #[arg(long, env = "LATCHKEY_CATALOG_DIR", value_delimiter = ',')]
    catalog_dir: Vec<PathBuf>,

    /// Base URL that browsers reach this server at; the OAuth redirect URI
    /// is `<public-url>/oauth/callback`. Default: `http://<listen address>`.
    #[arg(long, env = "LATCHKEY_PUBLIC_URL", value_parser = parse_public_url)]
    public_url: Option<String>,

    /// Lifetime of a connect session token, in seconds (1 to 2592000, which
    /// is 30 days).
    #[arg(
        long,
        env = "LATCHKEY_CONNECT_SESSION_TTL_SECONDS",
        default_value_t = 1800,
        value_parser = ttl_seconds(),
        allow_negative_numbers = true
    )]
    connect_session_ttl_seconds: u64,

    /// Lifetime of an OAuth state between the redirect and the callback, in
    /// seconds (1 to 2592000, which is 30 days).
    #[arg(
        long,
        env = "LATCHKEY_OAUTH_STATE_TTL_SECONDS",
        default_value_t = 600,
        value_parser = ttl_seconds(),
        allow_negative_numbers = true
    )]
    oauth_state_ttl_seconds: u64,

    /// PEM file of root certificates to trust besides the built-in web PKI
    /// roots, for providers behind a private certificate authority. Applies
    /// to token requests and proxied requests.
    #[arg(long, env = "LATCHKEY_EXTRA_CA_FILE")]
    extra_ca_file: Option<PathBuf>,
}

fn ttl_seconds() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(TTL_RANGE_SECONDS)
}

/// Runs the command. Errors are printed as `error: <message>: <causes>` and
/// exit with status 1; `main` does not return the `anyhow::Error`, because
/// Rust would then print its Debug form, with a backtrace under
/// `RUST_BACKTRACE=1`.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            init_tracing();
            run_server(args).map(|()| ExitCode::SUCCESS)
        }
        Command::Catalog {
            command: CatalogCommand::Validate { paths, format },
        } => Ok(validate(&paths, format)),
        Command::Catalog {
            command: CatalogCommand::Show(args),
        } => show::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Catalog {
            command: CatalogCommand::Import(args),
        } => import(&args).map(|()| ExitCode::SUCCESS),
        Command::Codegen(args) => codegen::run(&args),
    };
    result.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::FAILURE
    })
}

fn run_server(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn validate(paths: &[PathBuf], format: Format) -> ExitCode {
    let report = validate_paths(paths);
    if format == Format::Json {
        print!("{}", report.to_json_lines());
    } else if report.is_valid() {
        println!("{report}");
    } else {
        eprintln!("{report}");
    }
    if report.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn import(args: &ImportArgs) -> anyhow::Result<()> {
    let ImportSource::Nango = args.from;
    let report = import_nango(&args.file, &args.out)?;
    let text = match args.format {
        Format::Json => format!("{}\n", report.to_json()),
        Format::Human => report.to_string(),
    };
    // A reader that stops early, such as `| head`, is not an error.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(error).context("cannot write the import report")
        }
        _ => Ok(()),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let catalog =
        Catalog::with_dirs(&args.catalog_dir).context("cannot load the provider catalog")?;
    tracing::info!(
        providers = catalog.len(),
        extra_dirs = args.catalog_dir.len(),
        "loaded the provider catalog"
    );

    // Read the extra roots and bind before the keys, so that a bad file or
    // a failed bind leaves no new key files behind.
    let tls = match &args.extra_ca_file {
        Some(path) => extra_roots(path)?,
        None => TlsSettings::default(),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let public_url = args
        .public_url
        .unwrap_or_else(|| format!("http://{address}"));

    let keys = keys::load_or_generate(&args.data_dir, &KeyOverrides::from_env())
        .context("cannot load the secret key and the encryption key")?;
    tracing::info!(source = %keys.secret_key_source, "secret key ready");
    tracing::info!(source = %keys.encryption_key_source, "encryption key ready");

    let config = ServerConfig {
        providers: catalog.providers().cloned().collect(),
        public_url,
        connect_session_ttl: Duration::from_secs(args.connect_session_ttl_seconds),
        oauth_state_ttl: Duration::from_secs(args.oauth_state_ttl_seconds),
        tls,
    };
    let server = Server::open(&args.data_dir, &keys, config)?;
    tracing::info!(data_dir = %args.data_dir.display(), "store opened");

    // Tests read this line from stdout to learn the port.
    println!("latchkey listening on http://{address}");
    server
        .serve(listener, shutdown_signal())
        .await
        .context("the server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Reads the `--extra-ca-file` certificates.
fn extra_roots(path: &std::path::Path) -> anyhow::Result<TlsSettings> {
    let source = format!("--extra-ca-file {}", path.display());
    let pem = std::fs::read(path).with_context(|| format!("cannot read {source}"))?;
    let tls = TlsSettings::with_extra_roots_pem(&pem, &source).map_err(anyhow::Error::msg)?;
    tracing::info!(file = %path.display(), "trusting the extra root certificates");
    Ok(tls)
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = match tokio::signal::unix::signal(
        tokio::signal::unix::SignalKind::terminate(),
    ) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::warn!(error = %error, "cannot listen for SIGTERM; only SIGINT stops the server");
            let _ = interrupt.await;
            return;
        }
    };
    tokio::select! {
        _ = interrupt => tracing::info!("received SIGINT, shutting down"),
        _ = terminate.recv() => tracing::info!("received SIGTERM, shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(extra: &[&str]) -> Result<ServeArgs, clap::Error> {
        let argv = ["latchkey", "serve"].iter().chain(extra);
        match Cli::try_parse_from(argv)?.command {
            Command::Serve(args) => Ok(args),
            Command::Catalog { .. } | Command::Codegen(_) => {
                unreachable!("the arguments name `serve`")
            }
        }
    }

    #[test]
    fn ttl_flags_are_bounded() {
        for flag in ["--connect-session-ttl-seconds", "--oauth-state-ttl-seconds"] {
            assert!(serve_args(&[flag, "1"]).is_ok(), "{flag}");
            assert!(serve_args(&[flag, "2592000"]).is_ok(), "{flag}");
            for value in ["0", "2592001", "18446744073709551615"] {
                let error = serve_args(&[flag, value]).unwrap_err().to_string();
                assert!(error.contains(flag), "{flag} {value}: {error}");
            }
        }
    }

    #[test]
    fn catalog_flags_parse() {
        let parse = |argv: &[&str]| Cli::try_parse_from(argv).map(|cli| cli.command);

        let validate = parse(&[
            "latchkey", "catalog", "validate", "--format", "json", "a.yaml",
        ]);
        match validate.unwrap() {
            Command::Catalog {
                command: CatalogCommand::Validate { paths, format },
            } => {
                assert_eq!(paths, [PathBuf::from("a.yaml")]);
                assert_eq!(format, Format::Json);
            }
            other => panic!("parsed as {other:?}"),
        }
        let error = parse(&["latchkey", "catalog", "validate", "--format", "xml"]).unwrap_err();
        assert!(error.to_string().contains("--format"), "{error}");

        let show = parse(&[
            "latchkey",
            "catalog",
            "show",
            "zendesk",
            "--connection-config",
            "subdomain=acme",
        ]);
        assert!(
            matches!(
                show.unwrap(),
                Command::Catalog {
                    command: CatalogCommand::Show(_)
                }
            ),
            "catalog show did not parse"
        );
        let error = parse(&[
            "latchkey",
            "catalog",
            "show",
            "x",
            "--connection-config",
            "novalue",
        ])
        .unwrap_err();
        assert!(error.to_string().contains("KEY=VALUE"), "{error}");
    }

    #[test]
    fn public_url_flag_is_checked() {
        let args = serve_args(&["--public-url", "https://latchkey.example.com/"]).unwrap();
        assert_eq!(
            args.public_url.as_deref(),
            Some("https://latchkey.example.com")
        );
        let error = serve_args(&["--public-url", "example.com/x?y"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--public-url"), "{error}");
    }
}

//! `ispotato`: the command-line front end over `ispotato-core`.

use ispotato::{commands, config, cpu_level, setup};

fn main() -> std::process::ExitCode {
    // First: a binary built for a newer x86 level than this CPU's would die of SIGILL later.
    if let Err(e) = cpu_level::check() {
        eprintln!("error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    limit_malloc_arenas();
    let cli = match config::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(config::ParseError::Usage(e)) => e.exit(),
        Err(config::ParseError::Config(e)) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    setup::init_logging(cli.global.log_format);
    // A small blocking pool: decoding and inference are CPU-bound, and hundreds of blocking
    // threads would only add stacks and allocator arenas (memory) without adding throughput.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "command failed");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc gives every thread that allocates its own malloc arena; with the async workers and the
/// blocking pool that multiplies resident memory under load for no speed gain. Two arenas keep
/// the bot lean (measured in tests/load.rs). The mmap threshold is left dynamic on purpose:
/// fixing it low cut peak RSS further but made every inference map and zero its activations
/// afresh (~30% slower per image; docs/benchmarks.md).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator tuning; it is called first thing in main, before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

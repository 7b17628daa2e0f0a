use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    pin_mmap_threshold();
    let cli = sigil_api::cli::Cli::parse();
    match sigil_api::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Each sign-in's Argon2 hash takes a 19 MiB buffer. glibc's malloc raises its mmap threshold
/// to the largest block freed, so after the first sign-in those buffers came from the heap
/// arenas and stayed there: about 130 MB of RSS after 64 sign-ins (bench/load.sh, refresh
/// scenario). Pinned at its default, blocks that large are mapped and unmapped each time.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pin_mmap_threshold() {
    // SAFETY: mallopt only sets a parameter, under the allocator's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pin_mmap_threshold() {}

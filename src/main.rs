//! `feedwall`: thin entry point; everything lives in the library.

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> std::process::ExitCode {
    feedwall::run_cli()
}

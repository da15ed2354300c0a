//! Regenerate `man/` and `completions/` from the CLI definition: `cargo run --bin gen-docs`.
fn main() -> std::io::Result<()> {
    let root = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    postern::cli::docs::generate(&root)
}

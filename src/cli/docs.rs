//! Man pages and shell completions, generated from the clap definition (`bin/gen-docs`).

use std::io;
use std::path::Path;

use clap::CommandFactory;

use super::Cli;

/// Write `man/postern.1`, one page per subcommand (`postern-queue.1`, …), and the bash, zsh and
/// fish completions under `completions/`.
pub fn generate(root: &Path) -> io::Result<()> {
    let man_dir = root.join("man");
    let comp_dir = root.join("completions");
    std::fs::create_dir_all(&man_dir)?;
    std::fs::create_dir_all(&comp_dir)?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd.clone(), &man_dir)?;
    for (shell, file) in [
        (clap_complete::Shell::Bash, "postern.bash"),
        (clap_complete::Shell::Zsh, "_postern"),
        (clap_complete::Shell::Fish, "postern.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "postern", &mut out);
        std::fs::write(comp_dir.join(file), out)?;
    }
    Ok(())
}

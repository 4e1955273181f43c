//! Running child programs: print what runs, fail with the command line.

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};

/// Prints `==> COMMAND LINE`, runs the command with inherited stdio and fails,
/// naming the command line, if it cannot start or exits non-zero.
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    println!("==> {line}");
    let status = cmd.status().with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs the command with captured output and returns it whatever the exit
/// status; fails only if the program cannot be started.
pub fn output(cmd: &mut Command) -> Result<Output> {
    cmd.output()
        .with_context(|| format!("could not start `{}`", display(cmd)))
}

/// Runs the command with captured output and returns its stdout; fails,
/// showing stderr, if it exits non-zero.
pub fn stdout_of(cmd: &mut Command) -> Result<String> {
    let out = output(cmd)?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            display(cmd),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The command line of `cmd` as a user could paste it into a POSIX shell.
pub fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes one word for display in a POSIX shell: bare when safe, in double
/// quotes when that suffices, otherwise in single quotes.
pub fn quote(word: impl AsRef<OsStr>) -> String {
    let word = word.as_ref().to_string_lossy();
    const SPECIAL: &str = " \t\n'\"\\$`!*?[]{}()<>|&;#~";
    if !word.is_empty() && !word.chars().any(|c| SPECIAL.contains(c)) {
        return word.into_owned();
    }
    if !word.chars().any(|c| "\"\\$`!".contains(c)) {
        return format!("\"{word}\"");
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Looks `name` up on `PATH` like a shell would; `None` if it is not there.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(format!("{name}{}", env::consts::EXE_SUFFIX)))
        .find(|candidate| is_executable(candidate))
}

/// Whether `path` is a file this user may execute.
fn is_executable(path: &Path) -> bool {
    let Ok(meta) = path.metadata() else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

/// Whether this process runs as root (always false off Unix).
pub fn is_root() -> bool {
    cfg!(unix) && stdout_of(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

//! Links the unwinder statically into the PAM modules.
//!
//! Rust's std on linux-gnu links the stack unwinder dynamically
//! (`-lgcc_s`, libgcc_s.so.1). A PAM module is loaded and unloaded with every
//! PAM transaction, and a module that drags in libgcc_s makes each load map
//! that library too and rerun its CPU feature probe, which costs more than
//! the module's own work. Here `-lgcc_s` is resolved to a linker script that
//! pulls in GCC's static unwinder (libgcc_eh.a) instead; the modules' exported
//! symbols do not change (the exported-symbol tests pin them).
//!
//! Without libgcc_eh.a (no GCC), nothing changes and libgcc_s is used.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let Ok(out) = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() || !archive.is_absolute() || !archive.exists() {
        return;
    }
    let dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let script = format!("INPUT({})\n", archive.display());
    if std::fs::write(dir.join("libgcc_s.so"), script).is_ok() {
        println!("cargo::rustc-link-search=native={}", dir.display());
    }
}

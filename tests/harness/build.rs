//! Builds the test-only syslog capture library (see shim/syslog_capture.c)
//! with the system C compiler, and tells the harness where it is.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "shim/syslog_capture.c";
    println!("cargo::rerun-if-changed={src}");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("libsyslog_capture.so");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(&cc)
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(src)
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            println!("cargo::error=could not build {src} with {cc}: {other:?}");
            return;
        }
    }
    println!("cargo::rustc-env=PAM_HARNESS_SYSLOG_SHIM={}", out.display());
}

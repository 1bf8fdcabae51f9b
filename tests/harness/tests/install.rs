//! The install script an admin runs: where it puts things, with which modes,
//! what --dry-run and --uninstall do, and that an installed module loads.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pam_harness::Service;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// target/<profile>, where `cargo build` leaves the artifacts.
fn artifacts() -> PathBuf {
    let deps = pam_harness::build_dir();
    let dir = deps.parent().map(Path::to_path_buf).unwrap_or(deps);
    for f in [
        "libpam_totp.so",
        "libpam_policy.so",
        "totp-enroll",
        "pam-policy-check",
    ] {
        assert!(
            dir.join(f).exists(),
            "{} is missing: run `cargo build --workspace` before the tests (scripts/test.sh does)",
            dir.join(f).display()
        );
    }
    dir
}

fn install(args: &[&str]) -> (String, String) {
    let mut cmd = Command::new("sh");
    cmd.arg(repo().join("scripts/install.sh")).args(args);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run install.sh: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn installs_modules_and_cli_with_their_modes_then_uninstalls() {
    let stage = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let destdir = stage.path().to_str().unwrap_or_default().to_owned();
    let from = artifacts().display().to_string();
    let common = [
        "--from",
        from.as_str(),
        "--destdir",
        destdir.as_str(),
        "--securedir",
        "/lib/test-arch/security",
        "--prefix",
        "/usr/local",
    ];

    // --dry-run prints the plan and changes nothing.
    let (plan, _) = install(&[&common[..], &["--dry-run"]].concat());
    assert!(
        plan.contains("pam_totp.so") && plan.contains("totp-enroll"),
        "{plan}"
    );
    assert!(std::fs::read_dir(stage.path()).map_or(0, |d| d.count()) == 0);

    install(&common);
    let totp = stage.path().join("lib/test-arch/security/pam_totp.so");
    let policy = stage.path().join("lib/test-arch/security/pam_policy.so");
    let cli = stage.path().join("usr/local/bin/totp-enroll");
    let checker = stage.path().join("usr/local/bin/pam-policy-check");
    assert_eq!(mode(&totp), 0o644);
    assert_eq!(mode(&policy), 0o644);
    assert_eq!(mode(&cli), 0o755);
    assert_eq!(mode(&checker), 0o755);

    // The installed module is the real one: libpam loads it and it answers.
    let svc = Service::new(&format!("auth required {} bogus_option", totp.display()));
    let out = svc.user("alice").authenticate().run();
    out.expect("PAM_SERVICE_ERR");
    assert_eq!(out.logged("bogus_option").len(), 1, "{out}");

    install(&[&common[..], &["--uninstall"]].concat());
    assert!(!totp.exists() && !policy.exists() && !cli.exists() && !checker.exists());
}

#[test]
fn detects_the_system_module_directory() {
    // With no --securedir, the plan names the directory that holds pam_unix.so.
    let from = artifacts().display().to_string();
    let (plan, _) = install(&["--from", from.as_str(), "--dry-run"]);
    let sys = pam_harness::system_module_dir();
    assert!(
        plan.contains(&format!("{}/pam_totp.so", sys.display())),
        "expected {} in\n{plan}",
        sys.display()
    );
}

#[test]
fn refuses_unknown_arguments_and_missing_artifacts() {
    let out = Command::new("sh")
        .arg(repo().join("scripts/install.sh"))
        .args(["--frobnicate"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--frobnicate"));

    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new("sh")
        .arg(repo().join("scripts/install.sh"))
        .arg("--from")
        .arg(empty.path())
        .args([
            "--destdir",
            "/nonexistent-stage",
            "--securedir",
            "/x/security",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

//! The corpus: configuration trees under tests/corpus/<case>/ (etc/pam.d, a
//! saved `sshd -T` in sshd-T, the finding IDs, exit status and predicted
//! logins in `expected`), each analysed by the built binary with --root and
//! --sshd-t. Module files are stand-ins (an ELF header) made for each run,
//! except those a case lists in `missing-modules`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const MODULES: &[&str] = &[
    "pam_totp.so",
    "pam_google_authenticator.so",
    "pam_unix.so",
    "pam_permit.so",
    "pam_deny.so",
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("doctor-{name}"));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).expect("copy");
        }
    }
}

struct Ran {
    code: i32,
    json: serde_json::Value,
    text: String,
}

fn doctor(root: &Path, sshd_t: &Path, extra: &[&str]) -> Ran {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pam-hardening"));
    cmd.arg("doctor")
        .arg("--root")
        .arg(root)
        .arg("--sshd-t")
        .arg(sshd_t)
        .args(extra);
    let out = cmd.output().expect("run pam-hardening");
    let text = format!(
        "command: {cmd:?}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    Ran {
        code: out.status.code().unwrap_or(-1),
        json,
        text,
    }
}

fn tree_for(case: &Path, name: &str) -> PathBuf {
    let root = scratch(name);
    copy_tree(&case.join("etc"), &root.join("etc"));
    let missing = fs::read_to_string(case.join("missing-modules")).unwrap_or_default();
    let lib = root.join("lib/x86_64-linux-gnu/security");
    fs::create_dir_all(&lib).expect("lib dir");
    for m in MODULES {
        if !missing.lines().any(|l| l.trim() == *m) {
            fs::write(lib.join(m), b"\x7fELF\x02\x01\x01").expect("module stand-in");
        }
    }
    root
}

#[test]
fn every_case_gives_the_expected_findings() {
    let mut cases: Vec<PathBuf> = fs::read_dir(corpus())
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let root = tree_for(case, &name);
        let ran = doctor(&root, &case.join("sshd-T"), &["--json"]);
        let expected = fs::read_to_string(case.join("expected")).expect("expected");
        let mut want_ids: Vec<String> = Vec::new();
        let mut want_exit = None;
        let mut problems = Vec::new();
        for line in expected.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            match f[..] {
                ["exit", n] => want_exit = n.parse::<i32>().ok(),
                ["login", which, verdict] => {
                    let got = ran.json["logins"][which].as_str().unwrap_or("?");
                    if got != verdict {
                        problems.push(format!("login {which}: want {verdict}, got {got}"));
                    }
                }
                [id] => want_ids.push(id.to_owned()),
                _ => problems.push(format!("bad expected line {line:?}")),
            }
        }
        let mut got_ids: Vec<String> = ran.json["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        got_ids.sort();
        got_ids.dedup();
        want_ids.sort();
        if got_ids != want_ids {
            problems.push(format!("findings: want {want_ids:?}, got {got_ids:?}"));
        }
        if Some(ran.code) != want_exit {
            problems.push(format!("exit: want {want_exit:?}, got {}", ran.code));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "case {name}:\n  {}\n{}",
                problems.join("\n  "),
                ran.text
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn shipped_examples_are_the_corpus_examples() {
    // The shipped-example case must follow packaging/examples, not a copy that drifts.
    let shipped = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/examples/pam.d-sshd"),
    )
    .expect("shipped example");
    let case = fs::read_to_string(corpus().join("shipped-example/etc/pam.d/sshd")).expect("case");
    assert!(
        case.starts_with(shipped.trim_end()),
        "shipped-example drifted from packaging/examples/pam.d-sshd"
    );
    let fragment = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../packaging/examples/sshd_config.d-pam-hardening.conf"),
    )
    .expect("fragment");
    let t = fs::read_to_string(corpus().join("shipped-example/sshd-T")).expect("sshd-T");
    for line in fragment
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (k, v) = line.split_once(' ').expect("keyword value");
        let want = format!("{} {}", k.to_ascii_lowercase(), v.trim());
        assert!(t.lines().any(|l| l == want), "sshd-T lacks {want:?}");
    }
    let guide = fs::read_to_string("/work/shared/reference/hardening-guide.md").ok();
    if let Some(g) = guide {
        let line = g
            .lines()
            .find(|l| l.starts_with("auth [success=done"))
            .expect("guide line");
        let case = fs::read_to_string(corpus().join("guide-recipe/etc/pam.d/sshd")).expect("case");
        assert_eq!(case.lines().next(), Some(line));
    }
}

#[test]
fn unreadable_input_exits_2() {
    let root = scratch("empty");
    let ran = doctor(&root, &corpus().join("shipped-example/sshd-T"), &[]);
    assert_eq!(ran.code, 2, "{}", ran.text);
    let ran = doctor(&root, &root.join("no-such-file"), &["--json"]);
    assert_eq!(ran.code, 2, "{}", ran.text);
    assert_eq!(ran.json["analysed"], false, "{}", ran.text);
}

#[test]
fn refused_secret_files_are_counted_by_name_without_content() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
    let case = corpus().join("shipped-example");
    let root = tree_for(&case, "users");
    let me = fs::metadata(&root).expect("meta");
    let (uid, gid) = (me.uid(), me.gid());
    let mut passwd = String::new();
    for (name, mode) in [
        ("alice", 0o644),
        ("bob", 0),
        ("carol", 0o600),
        ("dave", 1),
        ("erin", 2),
    ] {
        let home = root.join("home").join(name);
        fs::create_dir_all(&home).expect("home");
        passwd.push_str(&format!("{name}:x:{uid}:{gid}::/home/{name}:/bin/sh\n"));
        let f = home.join(".google_authenticator");
        match mode {
            0 => symlink(root.join("home/carol/.google_authenticator"), &f).expect("symlink"),
            1 => {}
            // Well placed, but a value the module refuses.
            2 => {
                fs::write(&f, "JBSWY3DPEHPK3PXPSECRETMARK\n\" WINDOW_SIZE 0\n").expect("secret");
                fs::set_permissions(&f, fs::Permissions::from_mode(0o600)).expect("chmod");
            }
            m => {
                fs::write(&f, "JBSWY3DPEHPK3PXPSECRETMARK\n\" TOTP_AUTH\n").expect("secret");
                fs::set_permissions(&f, fs::Permissions::from_mode(m)).expect("chmod");
            }
        }
    }
    fs::write(root.join("etc/passwd"), passwd).expect("passwd");
    let ran = doctor(&root, &case.join("sshd-T"), &["--json"]);
    assert_eq!(ran.code, 1, "{}", ran.text);
    let f = ran.json["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["id"] == "USERS-SECRET-REFUSED"))
        .unwrap_or_else(|| panic!("no USERS-SECRET-REFUSED\n{}", ran.text));
    let effect = f["effect"].as_str().unwrap_or("");
    assert!(effect.starts_with("3 enrolled user(s)"), "{}", ran.text);
    assert!(
        effect.contains("alice") && effect.contains("bob") && effect.contains("erin"),
        "{}",
        ran.text
    );
    assert!(
        !effect.contains("carol") && !effect.contains("dave"),
        "{}",
        ran.text
    );
    assert!(
        !ran.text.contains("SECRETMARK"),
        "secret shown:\n{}",
        ran.text
    );
}

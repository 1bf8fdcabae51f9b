//! The harness proves itself on Linux-PAM's own modules before our modules
//! rely on it: results by name, the conversation transcript, items, the PAM
//! environment, syslog capture and processes released together.

use pam_harness::{LOG_AUTHPRIV, Op, Service, flags, race};

#[test]
fn pam_permit_and_pam_deny_give_their_codes() {
    let svc = Service::new(
        "auth required {sys}/pam_permit.so
         account required {sys}/pam_deny.so
         password required {sys}/pam_permit.so",
    );
    let out = svc
        .user("alice")
        .authenticate()
        .acct_mgmt()
        .chauthtok()
        .run();
    assert_eq!(
        out.codes(),
        ["PAM_SUCCESS", "PAM_AUTH_ERR", "PAM_SUCCESS"],
        "{out}"
    );
    assert_eq!(out.report.start, "PAM_SUCCESS");

    let deny = Service::new(
        "auth required {sys}/pam_deny.so
         password required {sys}/pam_deny.so
         session required {sys}/pam_deny.so",
    );
    let out = deny
        .user("alice")
        .authenticate()
        .setcred()
        .chauthtok()
        .step(Op::OpenSession, 0)
        .run();
    assert_eq!(
        out.codes(),
        [
            "PAM_AUTH_ERR",
            "PAM_CRED_ERR",
            "PAM_AUTHTOK_ERR",
            "PAM_SESSION_ERR"
        ],
        "{out}"
    );
}

#[test]
fn a_missing_service_file_never_falls_back_to_etc_pam_d() {
    let svc = Service::named("present", "auth required {sys}/pam_permit.so");
    let mut s = svc.user("alice").authenticate();
    s.spec.service = "absent-service".into();
    let out = s.run();
    // No "absent-service" and no "other" in the private directory.
    assert_eq!(out.report.start, "PAM_ABORT", "{out}");
    assert!(out.report.results.is_empty());
}

#[test]
fn pam_echo_messages_are_recorded_in_order_with_their_style() {
    let svc = Service::new(
        "auth optional {sys}/pam_echo.so first message for %u
         auth optional {sys}/pam_echo.so second
         auth required {sys}/pam_permit.so",
    );
    let out = svc.user("bob").authenticate().run();
    out.expect("PAM_SUCCESS");
    assert_eq!(out.infos(), ["first message for bob", "second"], "{out}");
    assert!(out.prompts().is_empty());
}

#[test]
fn pam_get_user_prompt_is_answered_from_the_script() {
    // With no user given to pam_start, pam_permit asks for one through the conversation.
    let svc = Service::new(
        "auth required {sys}/pam_permit.so
         auth required {items} record",
    );
    let out = svc.scenario(None).answer("carol").authenticate().run();
    out.expect("PAM_SUCCESS");
    assert_eq!(out.messages("PROMPT_ECHO_ON"), ["login:"], "{out}");
    assert_eq!(out.env("HARNESS_SEEN_USER"), Some("carol"), "{out}");
}

#[test]
fn a_failing_conversation_is_a_conversation_error() {
    let svc = Service::new("auth required {sys}/pam_permit.so");
    let out = svc.scenario(None).fail_conversation().authenticate().run();
    assert_ne!(out.code(), "PAM_SUCCESS", "{out}");
    // Running out of scripted answers fails the same way.
    let out = svc.scenario(None).authenticate().run();
    assert_ne!(out.code(), "PAM_SUCCESS", "{out}");
}

#[test]
fn items_module_sets_and_records_authtok_and_oldauthtok() {
    let svc = Service::new(
        "password required {items} set
         password required {items} record
         password required {sys}/pam_permit.so",
    );
    let out = svc
        .user("dave")
        .authtok("new secret")
        .old_authtok("old secret")
        .chauthtok()
        .run();
    out.expect("PAM_SUCCESS");
    assert_eq!(out.env("HARNESS_SEEN_AUTHTOK"), Some("new secret"), "{out}");
    assert_eq!(
        out.env("HARNESS_SEEN_OLDAUTHTOK"),
        Some("old secret"),
        "{out}"
    );
    // The values passed in are consumed, not left in the environment.
    assert_eq!(out.env("HARNESS_AUTHTOK"), None, "{out}");
    // The items module sees the chauthtok flags of the last (update) pass.
    assert_eq!(out.env("HARNESS_SEEN_FLAGS"), Some("0x2000"), "{out}");
}

#[test]
fn flags_reach_the_module() {
    let svc = Service::new(
        "auth required {items} record
         auth required {sys}/pam_permit.so",
    );
    let out = svc
        .user("erin")
        .step(
            Op::Authenticate,
            flags::SILENT | flags::DISALLOW_NULL_AUTHTOK,
        )
        .run();
    out.expect("PAM_SUCCESS");
    assert_eq!(out.env("HARNESS_SEEN_FLAGS"), Some("0x8001"), "{out}");
}

#[test]
fn application_items_reach_modules_and_syslog_is_captured() {
    // pam_warn logs the service, user, rhost and tty it sees.
    let svc = Service::named(
        "warn-svc",
        "auth required {sys}/pam_warn.so
         auth required {sys}/pam_permit.so",
    );
    let out = svc
        .user("frank")
        .rhost("192.0.2.7")
        .tty("pts/3")
        .ruser("remote")
        .authenticate()
        .run();
    out.expect("PAM_SUCCESS");
    let lines = out.logged("warn-svc");
    assert_eq!(lines.len(), 1, "{out}");
    let line = lines[0];
    assert_eq!(line.facility, LOG_AUTHPRIV, "{out}");
    for part in ["frank", "192.0.2.7", "pts/3", "remote"] {
        assert!(line.message.contains(part), "{part} missing\n{out}");
    }
}

#[test]
fn pam_deny_in_a_stack_with_requisite_stops_early() {
    let svc = Service::new(
        "auth requisite {sys}/pam_deny.so
         auth optional {sys}/pam_echo.so unreachable",
    );
    let out = svc.user("gina").authenticate().run();
    out.expect("PAM_AUTH_ERR");
    assert!(out.infos().is_empty(), "{out}");
}

#[test]
fn race_releases_every_process_together() {
    // Each process, once released, signs in at a barrier and waits until all
    // have signed in. Processes run one after another would never get there.
    const N: usize = 8;
    let probe = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let barrier = probe.path().join("barrier");
    let script = probe.path().join("barrier.sh");
    std::fs::write(
        &script,
        format!(
            "echo x >> {b}\nfor i in $(seq 1 200); do\n  [ $(wc -l < {b}) -ge {N} ] && exit 0\n  sleep 0.05\ndone\nexit 1\n",
            b = barrier.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let svc = Service::new(&format!(
        "auth required {{sys}}/pam_exec.so quiet /bin/sh {}",
        script.display()
    ));
    let racers: Vec<_> = (0..N).map(|_| svc.user("hank").authenticate()).collect();
    // Nothing has run before the release.
    let outcomes = race(&racers);
    for out in &outcomes {
        out.expect("PAM_SUCCESS");
    }
    let lines = std::fs::read_to_string(&barrier).unwrap_or_default();
    assert_eq!(lines.lines().count(), N);
}

#[test]
fn answers_larger_than_an_argument_reach_the_module() {
    // Specs over 64 KiB travel to the driver in a file, not on the command line.
    let big = "u".repeat(150 * 1024);
    let svc = Service::new(
        "auth required {sys}/pam_permit.so
         auth required {items} record",
    );
    let out = svc.scenario(None).answer(&big).authenticate().run();
    out.expect("PAM_SUCCESS");
    assert_eq!(out.env("HARNESS_SEEN_USER").map(str::len), Some(big.len()));
}

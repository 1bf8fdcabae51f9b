//! Concurrency and crash safety of pam_totp's state, through the real libpam:
//! many login processes released at one instant, and logins killed at random
//! instants while they update the file.
//!
//! `PAM_TOTP_RACE_ROUNDS` (default 200) and `PAM_TOTP_KILLS` (default 300)
//! set how many rounds run.

use std::time::{Duration, Instant};

use pam_harness::totp::{Enrollment, SECRET, code, step};
use pam_harness::{Outcome, Service, assert_one_winner, race};
use pam_totp::enrollment::Enrollment as File;
use test_support::settle;

const RACERS: usize = 32;

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn successes(outcomes: &[Outcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| o.code() == "PAM_SUCCESS")
        .count()
}

#[test]
fn one_totp_code_is_accepted_once_however_many_race_for_it() {
    let rounds = env_count("PAM_TOTP_RACE_ROUNDS", 200);
    let e = Enrollment::empty();
    let svc = Service::new(&format!("auth required {{totp}} {}", e.arg()));
    for round in 0..rounds {
        settle(3);
        e.write(format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n").as_bytes());
        let c = code(SECRET, step());
        let racers: Vec<_> = (0..RACERS)
            .map(|_| svc.user(&e.user).answer(&c).authenticate())
            .collect();
        let outcomes = race(&racers);
        assert_one_winner(&outcomes, round);
    }
}

#[test]
fn one_scratch_code_is_accepted_once_however_many_race_for_it() {
    let rounds = env_count("PAM_TOTP_RACE_ROUNDS", 200);
    let e = Enrollment::empty();
    let svc = Service::new(&format!("auth required {{totp}} {}", e.arg()));
    for round in 0..rounds {
        e.write(format!("{SECRET}\n\" TOTP_AUTH\n11111111\n22222222\n").as_bytes());
        let racers: Vec<_> = (0..RACERS)
            .map(|_| svc.user(&e.user).answer("22222222").authenticate())
            .collect();
        let outcomes = race(&racers);
        assert_one_winner(&outcomes, round);
        assert_eq!(
            e.text(),
            format!("{SECRET}\n\" TOTP_AUTH\n11111111\n"),
            "round {round}"
        );
        assert!(e.strays().is_empty(), "round {round}: {:?}", e.strays());
    }
}

#[test]
fn concurrent_logins_with_different_codes_lose_no_update() {
    // Sixteen scratch codes spent at once: every login succeeds and every code is gone.
    let codes: Vec<String> = (0..16)
        .map(|i| format!("{}", 30_000_000 + i * 1_111))
        .collect();
    let e = Enrollment::new(&format!(
        "\" RATE_LIMIT 100 3600\n\" TOTP_AUTH\n{}\n",
        codes.join("\n")
    ));
    let svc = Service::new(&format!("auth required {{totp}} {}", e.arg()));
    let racers: Vec<_> = codes
        .iter()
        .map(|c| svc.user(&e.user).answer(c).authenticate())
        .collect();
    let outcomes = race(&racers);
    assert_eq!(successes(&outcomes), codes.len());
    let file = File::parse(&e.bytes()).unwrap_or_else(|err| panic!("{err}"));
    assert!(file.scratch_codes().is_empty(), "{}", e.text());
    // And every attempt was counted by the rate limit.
    assert_eq!(file.rate_limit().map(|r| r.stamps.len()), Some(codes.len()));
}

#[test]
fn a_login_killed_at_any_instant_leaves_a_whole_file_and_spends_nothing_twice() {
    let kills = env_count("PAM_TOTP_KILLS", 300);
    // Many scratch codes; every attempt writes (RATE_LIMIT) and spends one.
    let scratch: Vec<u32> = (0..kills as u32 + 20).map(|i| 40_000_000 + i * 7).collect();
    let text = format!(
        "{SECRET}\n\" RATE_LIMIT 100 1\n\" TOTP_AUTH\n{}\n",
        scratch
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let e = Enrollment::with_text(&text);
    let svc = Service::new(&format!("auth required {{totp}} {}", e.arg()));

    // How long a whole login process takes here, to spread the kills over it.
    let span = (0..5)
        .map(|i| {
            let started = Instant::now();
            let mut child = svc
                .user(&e.user)
                .answer(&scratch[i].to_string())
                .authenticate()
                .spawn();
            let _ = child.wait();
            started.elapsed().as_micros() as u64
        })
        .min()
        .unwrap_or(1000)
        .max(500);
    let first = 5;

    let mut remaining: Vec<u32> = File::parse(&e.bytes())
        .unwrap_or_else(|err| panic!("{err}"))
        .scratch_values();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut stray_seen = 0;
    let mut killed_mid_way = 0;
    for (i, code) in scratch.iter().enumerate().skip(first).take(kills) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % span);
        let mut child = svc
            .user(&e.user)
            .answer(&code.to_string())
            .authenticate()
            .spawn();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap_or_else(|err| panic!("{err}"));
        if status.code().is_none() {
            killed_mid_way += 1;
        }

        // The file is always whole and parses.
        let file = match File::parse(&e.bytes()) {
            Ok(f) => f,
            Err(err) => panic!(
                "kill {i} after {delay:?}: file does not parse: {err}\n{}",
                e.text()
            ),
        };
        // A spent code never comes back.
        let now: Vec<u32> = file.scratch_values();
        for c in &now {
            assert!(remaining.contains(c), "kill {i}: spent code {c} is back");
        }
        remaining = now;
        // Only the kill window between link and rename can leave the
        // temporary name; the next locked access removes it.
        if !e.strays().is_empty() {
            stray_seen += 1;
            svc.user(&e.user).answer("000000").authenticate().run();
            assert!(
                e.strays().is_empty(),
                "kill {i}: {:?} left after the next login",
                e.strays()
            );
        }
    }
    eprintln!(
        "login process span {span} us; {kills} logins killed ({killed_mid_way} before finishing); a temporary name was seen {stray_seen} times"
    );
    assert!(
        killed_mid_way > kills / 4,
        "too few kills landed inside a login"
    );
    // The survivors still log in once the one-second rate-limit window has
    // passed: stamps are whole seconds and one at now - 1 still counts, so
    // wait for two seconds to turn over.
    let next = remaining[0];
    std::thread::sleep(Duration::from_millis(2100));
    svc.user(&e.user)
        .answer(&next.to_string())
        .authenticate()
        .run()
        .expect("PAM_SUCCESS");
}

//! The decision: pure functions over a secret file, the user's input and the
//! time. They edit the file the way pam_google_authenticator would (so the
//! caller persists it when its bytes changed) and return what was decided.
//!
//! Stricter than the anchor in one place: with `DISALLOW_REUSE`, once a code
//! for step `s` is accepted no code for any step `<= s` is accepted again
//! (the anchor refuses only the exact same step).

use crate::otp::{self, codes_equal};
use crate::secret_file::{Config, LAST_NAMES, SecretFile};

/// How far the time-skew search looks either side of now, in steps (±12.5 h at 30 s).
pub const SKEW_SEARCH_STEPS: u64 = 25 * 60;

/// What happens before the user is asked for a code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Ask for a code.
    Proceed,
    /// A code was accepted from this rhost within `grace_period=`: no code needed.
    Grace,
    /// `RATE_LIMIT` exceeded; the earliest recorded attempt leaves the window in `retry_after` seconds.
    Throttled { retry_after: u64 },
}

/// Grace period, then rate limit, as the anchor orders them (a login inside
/// its grace period is not counted). Records this attempt when `RATE_LIMIT` is set.
pub fn before_prompt(
    file: &mut SecretFile,
    cfg: &Config,
    now: u64,
    rhost: Option<&str>,
    grace_period: u64,
) -> Gate {
    if grace_period > 0
        && let Some(host) = rhost
        && let Some(last) = cfg
            .last
            .iter()
            .filter_map(|(_, l)| l.as_ref())
            .find(|l| l.host == host)
        && last.when.saturating_add(grace_period) > now
    {
        return Gate::Grace;
    }
    let Some(limit) = &cfg.rate_limit else {
        return Gate::Proceed;
    };
    let mut stamps = limit.stamps.clone();
    stamps.push(now);
    stamps.sort_unstable();
    let oldest_allowed = now.saturating_sub(limit.interval);
    let mut kept: Vec<u64> = stamps
        .into_iter()
        .filter(|&t| t >= oldest_allowed && t <= now)
        .collect();
    let exceeded = kept.len() > limit.attempts as usize;
    if exceeded {
        kept.drain(..kept.len() - limit.attempts as usize);
    }
    let mut value = format!("{} {}", limit.attempts, limit.interval);
    for t in &kept {
        value.push_str(&format!(" {t}"));
    }
    file.set("RATE_LIMIT", &value);
    if exceeded {
        let first = kept.first().copied().unwrap_or(now);
        Gate::Throttled {
            retry_after: (first + limit.interval).saturating_sub(now).max(1),
        }
    } else {
        Gate::Proceed
    }
}

/// A code found in the user's input: the last 6 digits (a TOTP/HOTP code)
/// or the last 8 (a scratch code), and how much input came before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub code: u32,
    pub digits: usize,
    pub prefix_len: usize,
}

/// The readings of an input the anchor tries, in its order: as a 6-digit
/// code, then as an 8-digit scratch code (first digit not 0). With `bare`,
/// nothing may come before the code (a plain prompt without `forward_pass`).
pub fn candidates(input: &[u8], bare: bool) -> Vec<Candidate> {
    [6usize, 8]
        .into_iter()
        .filter_map(|digits| {
            let prefix_len = input.len().checked_sub(digits)?;
            let tail = &input[prefix_len..];
            if !tail.iter().all(u8::is_ascii_digit) || (digits == 8 && tail[0] == b'0') {
                return None;
            }
            if bare && prefix_len > 0 {
                return None;
            }
            let code = tail
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
            Some(Candidate {
                code,
                digits,
                prefix_len,
            })
        })
        .collect()
}

/// How a code was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    Totp {
        step: u64,
    },
    Hotp {
        counter: u64,
    },
    Scratch,
    /// The third consecutive out-of-window code set a new `TIME_SKEW`.
    SkewReset {
        skew: i64,
    },
}

/// Why a code that matched something was still refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// With `DISALLOW_REUSE`: a code for this step or an earlier one was already used.
    Reused { step: u64 },
    /// The code matches far outside the window; recorded towards learning the skew.
    SkewLearning,
    /// The same out-of-window code as last time; nothing learned.
    SkewRepeat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    Accepted(Accepted),
    Refused(Refused),
    NoMatch,
}

/// Checks one code: scratch codes first, then HOTP (when `HOTP_COUNTER` is
/// set) or TOTP (with `TOTP_AUTH`). Edits `file` for what the decision
/// changes (used scratch code, counter, used steps, skew learning).
pub fn check_code(
    file: &mut SecretFile,
    cfg: &Config,
    code: u32,
    now: u64,
    skew_learning: bool,
) -> Check {
    // Compare against every scratch code, so the time does not tell which matched.
    let matched = file.scratch_codes().into_iter().fold(None, |found, s| {
        if codes_equal(s, code) && found.is_none() {
            Some(s)
        } else {
            found
        }
    });
    if let Some(s) = matched {
        file.remove_scratch_code(s);
        return Check::Accepted(Accepted::Scratch);
    }
    if code >= 1_000_000 {
        return Check::NoMatch;
    }
    if cfg.is_hotp() {
        return check_hotp(file, cfg, code);
    }
    if !cfg.totp {
        return Check::NoMatch;
    }
    check_totp(file, cfg, code, now, skew_learning)
}

fn check_hotp(file: &mut SecretFile, cfg: &Config, code: u32) -> Check {
    let counter = cfg.hotp_counter.unwrap_or(0);
    let mut found = None;
    for i in 0..u64::from(cfg.window) {
        let c = counter.saturating_add(i);
        if codes_equal(otp::hotp(&cfg.key, c, 6), code) && found.is_none() {
            found = Some(c);
        }
    }
    match found {
        Some(c) => {
            file.set("HOTP_COUNTER", &(c + 1).to_string());
            Check::Accepted(Accepted::Hotp { counter: c })
        }
        None => Check::NoMatch,
    }
}

/// The window's steps around `center`: `-(w-1)/2 ..= w/2`, the anchor's meaning of WINDOW_SIZE.
fn window_offsets(window: u32) -> std::ops::RangeInclusive<i64> {
    let w = i64::from(window);
    -((w - 1) / 2)..=w / 2
}

fn offset(step: u64, by: i64) -> Option<u64> {
    step.checked_add_signed(by)
}

fn check_totp(
    file: &mut SecretFile,
    cfg: &Config,
    code: u32,
    now: u64,
    skew_learning: bool,
) -> Check {
    let tm = otp::time_step(now, cfg.step);
    let mut found = None;
    for i in window_offsets(cfg.window) {
        let Some(step) = offset(tm, cfg.time_skew.saturating_add(i)) else {
            continue;
        };
        if codes_equal(otp::hotp(&cfg.key, step, 6), code) && found.is_none() {
            found = Some(step);
        }
    }
    if let Some(step) = found {
        return match mark_used(file, cfg, step) {
            Ok(()) => Check::Accepted(Accepted::Totp { step }),
            Err(r) => Check::Refused(r),
        };
    }
    if !skew_learning {
        return Check::NoMatch;
    }
    // The usual failure is a clock that is off; look for the code far out and
    // learn the skew. Every candidate is computed, so timing says nothing.
    let mut skew = None;
    for i in 0..SKEW_SEARCH_STEPS {
        let i = i as i64;
        for s in [-i, i] {
            if let Some(step) = offset(tm, s)
                && codes_equal(otp::hotp(&cfg.key, step, 6), code)
                && skew.is_none()
            {
                skew = Some(s);
            }
        }
    }
    match skew {
        Some(s) => learn_skew(file, cfg, tm, s),
        None => Check::NoMatch,
    }
}

/// With `DISALLOW_REUSE`: refuses `step` if it or a later one was used,
/// otherwise records it (pruning entries the window can no longer reach).
fn mark_used(file: &mut SecretFile, cfg: &Config, step: u64) -> Result<(), Refused> {
    let Some(used) = &cfg.used_steps else {
        return Ok(());
    };
    if used.iter().any(|&u| u >= step) {
        return Err(Refused::Reused { step });
    }
    let window = u64::from(cfg.window);
    let mut kept: Vec<String> = used
        .iter()
        .filter(|&&u| step - u < window)
        .map(u64::to_string)
        .collect();
    kept.push(step.to_string());
    file.set("DISALLOW_REUSE", &kept.join(" "));
    Ok(())
}

/// Three out-of-window codes on consecutive server steps with the same skew
/// (±1) set `TIME_SKEW` to their average, and the third logs in.
fn learn_skew(file: &mut SecretFile, cfg: &Config, tm: u64, skew: i64) -> Check {
    let mut entries = cfg.resetting_skew.clone();
    if entries.len() > 3 {
        entries.drain(..entries.len() - 3);
    }
    if let Some(&(last_tm, last_skew)) = entries.last()
        && tm.checked_add_signed(skew) == last_tm.checked_add_signed(last_skew)
    {
        return Check::Refused(Refused::SkewRepeat);
    }
    entries.push((tm, skew));
    if entries.len() > 3 {
        entries.remove(0);
    }
    let consistent = entries.len() == 3
        && entries.windows(2).all(|w| {
            let ((t0, s0), (t1, _)) = (w[0], w[1]);
            t1 > t0 && t1 <= t0 + 2 && (s0 - skew).abs() <= 1
        });
    if consistent {
        let average = entries.iter().map(|&(_, s)| s).sum::<i64>() / 3;
        file.set("TIME_SKEW", &average.to_string());
        file.set("RESETTING_TIME_SKEW", "");
        if let Some(step) = offset(tm, skew) {
            // A learned code is a used code too.
            let _ = mark_used(file, cfg, step);
        }
        return Check::Accepted(Accepted::SkewReset { skew: average });
    }
    let value: Vec<String> = entries.iter().map(|(t, s)| format!("{t}{s:+}")).collect();
    file.set("RESETTING_TIME_SKEW", &value.join(" "));
    Check::Refused(Refused::SkewLearning)
}

/// How a login treats the state around a check (from the module options).
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    pub now: u64,
    pub skew_learning: bool,
    pub advance_hotp_on_failure: bool,
    /// `Some(rhost)` when a success should be remembered for `grace_period=`.
    pub grace_host: Option<&'a str>,
    /// Whether no further input will be tried after these candidates.
    pub last: bool,
}

/// Checks the candidates of one input in order until one matches or is
/// refused, then applies `after_check` (unless nothing matched and more input
/// follows). Returns the verdict and the candidate it concerns. Edits `file`;
/// the caller saves it when its bytes changed.
pub fn decide(
    file: &mut SecretFile,
    cfg: &Config,
    found: &[Candidate],
    rules: &Rules<'_>,
    hotp_attempted: &mut bool,
) -> (Check, Option<Candidate>) {
    let mut verdict = Check::NoMatch;
    let mut used = None;
    for c in found {
        verdict = check_code(file, cfg, c.code, rules.now, rules.skew_learning);
        if verdict == Check::NoMatch && cfg.is_hotp() && c.code < 1_000_000 {
            *hotp_attempted = true;
        }
        if verdict != Check::NoMatch {
            used = Some(*c);
            break;
        }
    }
    if verdict == Check::NoMatch && !rules.last {
        return (verdict, used);
    }
    let accepted = matches!(verdict, Check::Accepted(_));
    after_check(
        file,
        cfg,
        accepted,
        *hotp_attempted,
        rules.advance_hotp_on_failure,
        rules.grace_host.map(|h| (h, rules.now)),
    );
    (verdict, used)
}

/// After the codes were checked: a failed HOTP attempt moves the counter on
/// (unless `no_increment_hotp`), and a success with `grace_period=` records
/// the rhost in the least recently used `LASTn` slot.
pub fn after_check(
    file: &mut SecretFile,
    cfg: &Config,
    accepted: bool,
    hotp_attempted: bool,
    advance_hotp_on_failure: bool,
    grace: Option<(&str, u64)>,
) {
    if !accepted && hotp_attempted && advance_hotp_on_failure && cfg.is_hotp() {
        let next = cfg.hotp_counter.unwrap_or(0).saturating_add(1);
        file.set("HOTP_COUNTER", &next.to_string());
    }
    if accepted && let Some((host, now)) = grace {
        let slot = cfg
            .last
            .iter()
            .find(|(_, l)| l.as_ref().is_some_and(|l| l.host == host))
            .or_else(|| cfg.last.iter().find(|(_, l)| l.is_none()))
            .or_else(|| {
                cfg.last
                    .iter()
                    .min_by_key(|(_, l)| l.as_ref().map_or(0, |l| l.when))
            })
            .map_or(0, |(i, _)| *i);
        file.set(LAST_NAMES[slot], &format!("{host} {now}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otp::decode_base32;

    const SECRET: &str = "2SH3V3GDW7ZNMGYE";

    fn file(options: &str) -> SecretFile {
        SecretFile::from_bytes(format!("{SECRET}\n{options}").into_bytes())
    }

    fn code_at(step: u64) -> u32 {
        otp::hotp(&decode_base32(SECRET).unwrap(), step, 6)
    }

    /// Checks `code` at `now` against `f`, applying the edit as a login would.
    fn login(f: &mut SecretFile, code: u32, now: u64, learn: bool) -> Check {
        let cfg = Config::parse(f).unwrap();
        check_code(f, &cfg, code, now, learn)
    }

    fn ok(c: Check) -> bool {
        matches!(c, Check::Accepted(_))
    }

    #[test]
    fn anchor_vector_and_wrong_code() {
        let mut f = file("\" TOTP_AUTH\n");
        assert!(ok(login(&mut f, 50548, 10000 * 30, false)));
        assert_eq!(login(&mut f, 123456, 10000 * 30, false), Check::NoMatch);
    }

    /// The code for step 10000 checked with the server at each given step.
    fn window_case(options: &str, step_seconds: u64, expected: &[(u64, bool)]) {
        let code = code_at(10000);
        for &(server, want) in expected {
            let mut f = file(options);
            let got = ok(login(&mut f, code, server * step_seconds, false));
            assert_eq!(got, want, "{options:?}: server step {server}");
        }
    }

    #[test]
    fn window_checklist_of_the_anchor() {
        // Default window: one step either side (server 9998/9999/10001/10002/10000).
        let one_either_side = [
            (9998, false),
            (9999, true),
            (10001, true),
            (10002, false),
            (10000, true),
        ];
        window_case("\" TOTP_AUTH\n", 30, &one_either_side);
        window_case("\" STEP_SIZE 60\n\" TOTP_AUTH\n", 60, &one_either_side);
        // WINDOW_SIZE 6: two steps back, three ahead.
        window_case(
            "\" WINDOW_SIZE 6\n\" TOTP_AUTH\n",
            30,
            &[
                (9996, false),
                (9997, true),
                (10002, true),
                (10003, false),
                (10000, true),
            ],
        );
        assert_eq!(window_offsets(1), 0..=0);
        assert_eq!(window_offsets(3), -1..=1);
        assert_eq!(window_offsets(4), -1..=2);
        assert_eq!(window_offsets(17), -8..=8);
    }

    #[test]
    fn disallow_reuse_records_steps_like_the_anchor() {
        // As in the anchor's own test, WINDOW_SIZE 6 is in effect.
        let mut f = file("\" WINDOW_SIZE 6\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
        assert!(ok(login(&mut f, code_at(10000), 10000 * 30, false)));
        assert_eq!(
            login(&mut f, code_at(10000), 10000 * 30, false),
            Check::Refused(Refused::Reused { step: 10000 })
        );
        for step in 10001..=10007 {
            assert!(
                ok(login(&mut f, code_at(step), step * 30, false)),
                "step {step}"
            );
        }
        assert_eq!(
            f.get("DISALLOW_REUSE"),
            Some(&b"10002 10003 10004 10005 10006 10007"[..]),
            "entries the window cannot reach are pruned"
        );
    }

    #[test]
    fn disallow_reuse_is_monotonic() {
        // The anchor accepts steps T+1, T, T-1 in that order; we accept only the first.
        let mut f = file("\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
        let now = 20000 * 30;
        assert!(ok(login(&mut f, code_at(20001), now, false)));
        assert!(matches!(
            login(&mut f, code_at(20000), now, false),
            Check::Refused(Refused::Reused { .. })
        ));
        assert!(matches!(
            login(&mut f, code_at(19999), now, false),
            Check::Refused(Refused::Reused { .. })
        ));
        // Without DISALLOW_REUSE, a code may be used again.
        let mut g = file("\" TOTP_AUTH\n");
        assert!(ok(login(&mut g, code_at(20000), now, false)));
        assert!(ok(login(&mut g, code_at(20000), now, false)));
        assert_eq!(
            g.as_bytes(),
            file("\" TOTP_AUTH\n").as_bytes(),
            "no state written"
        );
    }

    #[test]
    fn rate_limit_checklist() {
        // RATE_LIMIT 4 120: steps 20000..20004 → OK×4, the 5th refused, 20006 OK again.
        let mut f = file("\" RATE_LIMIT 4 120\n\" TOTP_AUTH\n");
        for (i, step) in (20000u64..=20004).enumerate() {
            let cfg = Config::parse(&f).unwrap();
            let gate = before_prompt(&mut f, &cfg, step * 30, None, 0);
            if i < 4 {
                assert_eq!(gate, Gate::Proceed, "attempt {i}");
            } else {
                assert!(matches!(gate, Gate::Throttled { .. }), "attempt {i}");
            }
        }
        let cfg = Config::parse(&f).unwrap();
        assert_eq!(
            before_prompt(&mut f, &cfg, 20006 * 30, None, 0),
            Gate::Proceed
        );
        assert_eq!(
            f.get("RATE_LIMIT"),
            Some(&b"4 120 600060 600090 600120 600180"[..])
        );
    }

    #[test]
    fn throttled_tells_when_to_retry() {
        let mut f = file("\" RATE_LIMIT 1 30 1000\n\" TOTP_AUTH\n");
        let cfg = Config::parse(&f).unwrap();
        assert_eq!(
            before_prompt(&mut f, &cfg, 1010, None, 0),
            Gate::Throttled { retry_after: 30 }
        );
    }

    #[test]
    fn skew_learning_checklist() {
        // Server step 12000+i, code for 11000+i: i=0,1 refused; i=2 sets the skew; i=3 works.
        let mut f = file("\" TOTP_AUTH\n");
        for i in 0..4u64 {
            let result = login(&mut f, code_at(11000 + i), (12000 + i) * 30, true);
            match i {
                0 | 1 => assert_eq!(result, Check::Refused(Refused::SkewLearning), "i={i}"),
                2 => assert_eq!(result, Check::Accepted(Accepted::SkewReset { skew: -1000 })),
                _ => assert_eq!(result, Check::Accepted(Accepted::Totp { step: 11003 })),
            }
        }
        assert_eq!(f.get("TIME_SKEW"), Some(&b"-1000"[..]));
        // noskewadj: server 12020, code 11010 → refused, nothing learned.
        let mut g = file("\" TOTP_AUTH\n");
        assert_eq!(
            login(&mut g, code_at(11010), 12020 * 30, false),
            Check::NoMatch
        );
        assert_eq!(g.as_bytes(), file("\" TOTP_AUTH\n").as_bytes());
    }

    #[test]
    fn repeating_the_same_far_code_learns_nothing() {
        let mut f = file("\" TOTP_AUTH\n");
        assert_eq!(
            login(&mut f, code_at(11000), 12000 * 30, true),
            Check::Refused(Refused::SkewLearning)
        );
        let before = f.clone();
        assert_eq!(
            login(&mut f, code_at(11000), 12000 * 30, true),
            Check::Refused(Refused::SkewRepeat)
        );
        assert_eq!(f, before);
    }

    #[test]
    fn scratch_codes_work_once() {
        let mut f = file("\" TOTP_AUTH\n");
        assert_eq!(login(&mut f, 12345678, 300000, false), Check::NoMatch);
        let mut f = file("\" TOTP_AUTH\n12345678\n");
        assert_eq!(
            login(&mut f, 12345678, 300000, false),
            Check::Accepted(Accepted::Scratch)
        );
        assert_eq!(login(&mut f, 12345678, 300000, false), Check::NoMatch);
        assert!(f.scratch_codes().is_empty());
    }

    #[test]
    fn hotp_checklist() {
        let mut f = file("\" HOTP_COUNTER 1\n");
        assert_eq!(
            login(&mut f, 293240, 0, false),
            Check::Accepted(Accepted::Hotp { counter: 1 })
        );
        assert_eq!(f.get("HOTP_COUNTER"), Some(&b"2"[..]));
        // The same code again does not match; a failed attempt advances the counter.
        assert_eq!(login(&mut f, 293240, 0, false), Check::NoMatch);
        let cfg = Config::parse(&f).unwrap();
        after_check(&mut f, &cfg, false, true, true, None);
        assert_eq!(f.get("HOTP_COUNTER"), Some(&b"3"[..]));
        // Look-ahead within the window: counter 3, code for 5.
        assert_eq!(
            login(&mut f, 932068, 0, false),
            Check::Accepted(Accepted::Hotp { counter: 5 })
        );
        assert_eq!(f.get("HOTP_COUNTER"), Some(&b"6"[..]));
        // no_increment_hotp
        let cfg = Config::parse(&f).unwrap();
        after_check(&mut f, &cfg, false, true, false, None);
        assert_eq!(f.get("HOTP_COUNTER"), Some(&b"6"[..]));
    }

    #[test]
    fn candidates_follow_the_anchor_parsing() {
        let c = |s: &str, bare| candidates(s.as_bytes(), bare);
        assert_eq!(
            c("050548", true),
            vec![Candidate {
                code: 50548,
                digits: 6,
                prefix_len: 0
            }]
        );
        assert_eq!(
            c("12345678", true),
            vec![Candidate {
                code: 12345678,
                digits: 8,
                prefix_len: 0
            }]
        );
        // 8 digits could be a 2-char password + 6-digit code with forward_pass.
        assert_eq!(c("12345678", false).len(), 2);
        for bad in [
            "",
            "12345",
            "1234567",
            "123 456",
            " 123456",
            "123456 ",
            "12345a",
            "01234567",
            "１２３４５６",
        ] {
            assert!(c(bad, true).is_empty(), "{bad:?}");
        }
        assert_eq!(
            c("hunter2123456", false),
            vec![Candidate {
                code: 123456,
                digits: 6,
                prefix_len: 7
            }]
        );
        let long = "9".repeat(10_000);
        assert!(c(&long, true).is_empty());
    }

    #[test]
    fn grace_period_is_per_rhost() {
        let mut f = file("\" TOTP_AUTH\n");
        let cfg = Config::parse(&f).unwrap();
        after_check(&mut f, &cfg, true, false, true, Some(("192.0.2.7", 1000)));
        let cfg = Config::parse(&f).unwrap();
        assert_eq!(
            before_prompt(&mut f, &cfg, 1100, Some("192.0.2.7"), 300),
            Gate::Grace
        );
        assert_eq!(
            before_prompt(&mut f, &cfg, 1100, Some("192.0.2.8"), 300),
            Gate::Proceed
        );
        assert_eq!(
            before_prompt(&mut f, &cfg, 1300, Some("192.0.2.7"), 300),
            Gate::Proceed
        );
        assert_eq!(before_prompt(&mut f, &cfg, 1100, None, 300), Gate::Proceed);
    }

    #[test]
    fn grace_slots_fill_then_replace_the_oldest() {
        let mut f = file("\" TOTP_AUTH\n");
        for i in 0..11u64 {
            let cfg = Config::parse(&f).unwrap();
            after_check(
                &mut f,
                &cfg,
                true,
                false,
                true,
                Some((&format!("h{i}"), 1000 + i)),
            );
        }
        let cfg = Config::parse(&f).unwrap();
        let hosts: Vec<_> = cfg
            .last
            .iter()
            .filter_map(|(_, l)| l.as_ref().map(|l| l.host.clone()))
            .collect();
        assert_eq!(hosts.len(), 10);
        assert!(!hosts.contains(&"h0".to_owned()) && hosts.contains(&"h10".to_owned()));
    }

    #[test]
    fn time_far_in_the_future_works() {
        let now = 20_000_000_000u64;
        let mut f = file("\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
        let step = now / 30;
        assert!(ok(login(&mut f, code_at(step), now, false)));
        assert_eq!(f.get("DISALLOW_REUSE"), Some(step.to_string().as_bytes()));
    }
}

//! The decision: what one login attempt does to an enrollment. Pure: no
//! I/O, no clock (the time comes in), no globals. Read top to bottom:
//!
//! 1. [`gate`], before the prompt: a login from a host inside its
//!    `grace_period=` needs no code.
//! 2. [`decide`], after the answer: the rate limit counts the attempt (and
//!    may refuse it), then each reading of the input is checked — scratch
//!    codes, then HOTP or TOTP within the [`Window`], then the skew search —
//!    and what the check changed (used steps, counter, skew, grace slot) is
//!    in the enrollment it returns.
//!
//! Stricter than pam_google_authenticator in two places: with
//! `DISALLOW_REUSE`, once a code for step `s` is accepted no code for any
//! step `<= s` is accepted again (the anchor refuses only the same step),
//! and such a code never counts towards skew learning.

#![forbid(unsafe_code)]

use std::ops::RangeInclusive;

use zeroize::Zeroizing;

use crate::enrollment::{Enrollment, FormatError, GRACE_SLOTS, GraceHost, Kind, ScratchCode};
use crate::minimums::{Minimums, Shortfall};
use crate::otp::{self, Codes, codes_equal};

impl zeroize::Zeroize for Candidate {
    fn zeroize(&mut self) {
        self.code.zeroize();
        self.digits.zeroize();
        self.prefix_len.zeroize();
    }
}

/// How far the skew search looks either side of now, in steps (±12.5 h at 30 s).
pub const SKEW_SEARCH_STEPS: u64 = 25 * 60;
/// Digits of a TOTP/HOTP code.
pub const DIGITS: u32 = 6;

/// `WINDOW_SIZE`, with the anchor's meaning: TOTP steps `-(w-1)/2 ..= w/2`
/// around now (3 is one step either side), or the next `w` HOTP counters.
/// The one place this arithmetic lives; totp-enroll uses it too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window(u32);

impl Window {
    pub fn new(size: u32) -> Self {
        Self(size.max(1))
    }

    pub fn size(self) -> u32 {
        self.0
    }

    /// Offsets from the current step that a TOTP code may have.
    pub fn offsets(self) -> RangeInclusive<i64> {
        let w = i64::from(self.0);
        -((w - 1) / 2)..=w / 2
    }

    /// The step within the window around `center` whose code is `code`.
    /// Every step is computed, so the time taken says nothing about which.
    pub fn find_totp(self, key: &mut Codes<'_>, center: u64, code: u32) -> Option<u64> {
        let mut found = None;
        for i in self.offsets() {
            if let Some(step) = center.checked_add_signed(i)
                && codes_equal(key.code(step, DIGITS), code)
                && found.is_none()
            {
                found = Some(step);
            }
        }
        found
    }

    /// The counter among the next `size` from `counter` whose code is `code`.
    pub fn find_hotp(self, key: &mut Codes<'_>, counter: u64, code: u32) -> Option<u64> {
        let mut found = None;
        for i in 0..u64::from(self.0) {
            let c = counter.saturating_add(i);
            if codes_equal(key.code(c, DIGITS), code) && found.is_none() {
                found = Some(c);
            }
        }
        found
    }
}

/// A reading of the user's input: the last 6 digits (a TOTP/HOTP code) or
/// the last 8 (a scratch code), and how much input came before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub code: u32,
    pub digits: usize,
    pub prefix_len: usize,
}

/// The readings of an input the anchor tries, in its order: as a 6-digit
/// code, then as an 8-digit scratch code (first digit not 0). With `bare`,
/// nothing may come before the code (a plain prompt without `forward_pass`).
/// The list is wiped when dropped: it holds what the user typed.
pub fn candidates(input: &[u8], bare: bool) -> Zeroizing<Vec<Candidate>> {
    let mut found = Zeroizing::new(Vec::with_capacity(2));
    found.extend([6usize, 8].into_iter().filter_map(|digits| {
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
    }));
    found
}

/// What happens before the user is asked for a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Ask,
    /// A code was accepted from this host within `grace_period=`.
    Grace,
}

/// Grace period: a code accepted from `host` less than `grace_period`
/// seconds ago lets this login in without one.
pub fn gate(e: &Enrollment, host: Option<&GraceHost>, grace_period: u64, now: u64) -> Gate {
    let Some(host) = host.filter(|_| grace_period > 0) else {
        return Gate::Ask;
    };
    let recent = e
        .last_logins()
        .iter()
        .flatten()
        .find(|l| l.host == host.as_str().as_bytes())
        .is_some_and(|l| l.when.saturating_add(grace_period) > now);
    if recent { Gate::Grace } else { Gate::Ask }
}

/// The module options that shape a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Learn the clock skew from three consecutive far-off codes (not `noskewadj`).
    pub skew_learning: bool,
    /// A failed HOTP attempt moves the counter on (not `no_increment_hotp`).
    pub advance_hotp_on_failure: bool,
    /// `grace_period=` in seconds; 0 is off.
    pub grace_period: u64,
    /// The admin's minimums, applied whatever the file says.
    pub minimums: Minimums,
}

/// One input of a login, to be decided.
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    pub candidates: &'a [Candidate],
    pub rules: Rules,
    /// The remote host, when it is one that may be recorded.
    pub host: Option<&'a GraceHost>,
    /// No further input follows in this login.
    pub last: bool,
    /// An earlier input of this login was tried as a HOTP code.
    pub hotp_tried: bool,
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
    /// The third consecutive far-off code set a new `TIME_SKEW`.
    SkewReset {
        skew: i64,
    },
}

/// Why a code that matched something was still refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// With `DISALLOW_REUSE`: a code for this step or a later one was already used.
    Reused { step: u64 },
    /// The code matches far outside the window; recorded towards learning the skew.
    SkewLearning,
    /// The same far-off code as last time; nothing learned.
    SkewRepeat,
    /// The code is right, but the enrollment (or, for a scratch code, its
    /// use) is below the admin's minimums; nothing but the attempt is recorded.
    BelowMinimum(Shortfall),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted {
        how: Accepted,
        candidate: Candidate,
    },
    Refused(Refused),
    /// `RATE_LIMIT` reached; the oldest counted attempt leaves it in `retry_after` seconds.
    Throttled {
        retry_after: u64,
    },
    WrongCode,
    /// Nothing matched and more input follows; nothing was changed.
    TryNext {
        hotp_tried: bool,
    },
}

/// What [`current_code`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Current {
    /// The code of this TOTP step or HOTP counter.
    Matches(u64),
    /// A code a login would refuse as reused.
    Used,
    NoMatch,
}

/// Whether `code` is one the app shows now for `e`, as a login would see
/// it (window and its cap, clock skew, reuse), without changing anything:
/// for a tool that asks the user to prove they hold the app before it shows
/// or changes their enrollment. Scratch codes do not count.
pub fn current_code(e: &Enrollment, code: u32, now: u64, minimums: &Minimums) -> Current {
    let window = Window::new(minimums.window(e.window()));
    let key = e.hotp_key();
    let mut codes = key.codes();
    match e.kind() {
        Kind::Hotp { counter } => window
            .find_hotp(&mut codes, counter, code)
            .map_or(Current::NoMatch, Current::Matches),
        Kind::Totp => {
            let tm = otp::time_step(now, e.step());
            match tm
                .checked_add_signed(e.time_skew())
                .and_then(|center| window.find_totp(&mut codes, center, code))
            {
                Some(step) if last_used(e).is_some_and(|u| u >= step) => Current::Used,
                Some(step) => Current::Matches(step),
                None => Current::NoMatch,
            }
        }
        Kind::ScratchOnly => Current::NoMatch,
    }
}

/// Decides one attempt at `now`; returns the outcome and the enrollment as
/// it must be saved (equal to `e` when nothing changes).
pub fn decide(
    e: &Enrollment,
    a: &Attempt<'_>,
    now: u64,
) -> Result<(Outcome, Enrollment), FormatError> {
    let mut next = e.clone();
    let outcome = decide_into(&mut next, a, now)?;
    if matches!(outcome, Outcome::TryNext { .. }) {
        return Ok((outcome, e.clone()));
    }
    Ok((outcome, next))
}

fn decide_into(e: &mut Enrollment, a: &Attempt<'_>, now: u64) -> Result<Outcome, FormatError> {
    let minimums = &a.rules.minimums;
    if let Some(retry_after) = count_attempt(e, minimums, now)? {
        return Ok(Outcome::Throttled { retry_after });
    }
    // An enrollment the admin refuses is checked on a copy: a right code is
    // told why it is refused, and nothing of the check is kept.
    if let Some(short) = minimums.refusal(e) {
        let mut probe = e.clone();
        return Ok(match check_candidates(&mut probe, a, now)? {
            (Some(Outcome::Accepted { .. }), _) => Outcome::Refused(Refused::BelowMinimum(short)),
            (Some(other), _) => other,
            (None, hotp_tried) if !a.last => Outcome::TryNext { hotp_tried },
            (None, _) => Outcome::WrongCode,
        });
    }
    let (verdict, hotp_tried) = check_candidates(e, a, now)?;
    let outcome = match verdict {
        Some(v) => v,
        None if !a.last => return Ok(Outcome::TryNext { hotp_tried }),
        None => Outcome::WrongCode,
    };
    let accepted = matches!(outcome, Outcome::Accepted { .. });
    if !accepted
        && hotp_tried
        && a.rules.advance_hotp_on_failure
        && let Kind::Hotp { counter } = e.kind()
    {
        e.set_hotp_counter(counter.saturating_add(1))?;
    }
    if accepted
        && a.rules.grace_period > 0
        && let Some(host) = a.host
    {
        record_grace(e, host, now)?;
    }
    Ok(outcome)
}

/// Each reading of the input in turn, until one is decided; also whether
/// one was tried as a HOTP code.
fn check_candidates(
    e: &mut Enrollment,
    a: &Attempt<'_>,
    now: u64,
) -> Result<(Option<Outcome>, bool), FormatError> {
    let key = e.hotp_key();
    let mut codes = key.codes();
    let mut hotp_tried = a.hotp_tried;
    for c in a.candidates {
        match check_code(e, &mut codes, c.code, now, &a.rules)? {
            Check::NoMatch => {
                hotp_tried |= matches!(e.kind(), Kind::Hotp { .. }) && c.code < 1_000_000;
            }
            Check::Accepted(how) => {
                return Ok((Some(Outcome::Accepted { how, candidate: *c }), hotp_tried));
            }
            Check::Refused(r) => return Ok((Some(Outcome::Refused(r)), hotp_tried)),
        }
    }
    Ok((None, hotp_tried))
}

/// `RATE_LIMIT n s`: counts this attempt; `Some(retry_after)` when it is
/// more than `n` within `s` seconds. The kept timestamps are the last `n`.
///
/// With a required rate limit the stricter of the two applies; a file
/// without `RATE_LIMIT` gets the line (the admin's numbers) to keep the times in.
fn count_attempt(
    e: &mut Enrollment,
    minimums: &Minimums,
    now: u64,
) -> Result<Option<u64>, FormatError> {
    let file = e.rate_limit().map(|r| (r.attempts, r.interval));
    let Some((attempts, interval)) = minimums.rate_limit(file) else {
        return Ok(None);
    };
    if file.is_none() {
        e.set_rate_limit(attempts, interval)?;
    }
    let (attempts, stamps) = (
        attempts as usize,
        e.rate_limit().map(|r| r.stamps.clone()).unwrap_or_default(),
    );
    let mut stamps = stamps;
    stamps.push(now);
    stamps.sort_unstable();
    let oldest_allowed = now.saturating_sub(interval);
    stamps.retain(|&t| t >= oldest_allowed && t <= now);
    let exceeded = stamps.len() > attempts;
    if exceeded {
        stamps.drain(..stamps.len() - attempts);
    }
    let first = stamps.first().copied().unwrap_or(now);
    e.set_rate_stamps(stamps)?;
    Ok(exceeded.then(|| first.saturating_add(interval).saturating_sub(now).max(1)))
}

enum Check {
    Accepted(Accepted),
    Refused(Refused),
    NoMatch,
}

/// One code: scratch codes first, then HOTP (when `HOTP_COUNTER` is set)
/// or TOTP (with `TOTP_AUTH`).
fn check_code(
    e: &mut Enrollment,
    key: &mut Codes<'_>,
    code: u32,
    now: u64,
    rules: &Rules,
) -> Result<Check, FormatError> {
    let minimums = &rules.minimums;
    // Compare against every scratch code, so the time does not tell which matched.
    let matched = e
        .scratch_codes()
        .iter()
        .fold(None, |found: Option<ScratchCode>, &s| {
            if codes_equal(s.value(), code) && found.is_none() {
                Some(s)
            } else {
                found
            }
        });
    if let Some(s) = matched {
        if minimums.refuse_scratch_codes {
            let count = e.scratch_codes().len();
            return Ok(Check::Refused(Refused::BelowMinimum(
                Shortfall::ScratchCodes { count },
            )));
        }
        e.remove_scratch_code(s);
        return Ok(Check::Accepted(Accepted::Scratch));
    }
    if code >= 1_000_000 {
        return Ok(Check::NoMatch);
    }
    let window = Window::new(minimums.window(e.window()));
    match e.kind() {
        Kind::Hotp { counter } => match window.find_hotp(key, counter, code) {
            Some(c) => {
                e.set_hotp_counter(c + 1)?;
                Ok(Check::Accepted(Accepted::Hotp { counter: c }))
            }
            None => Ok(Check::NoMatch),
        },
        Kind::Totp => check_totp(e, key, window, code, now, rules),
        Kind::ScratchOnly => Ok(Check::NoMatch),
    }
}

/// The `k`-th offset of the skew search, nearest first: 0, -1, +1, -2, +2, …
fn skew_search_offset(k: usize) -> i64 {
    let i = k.div_ceil(2) as i64;
    if k % 2 == 1 { -i } else { i }
}

/// The newest step already used, with `DISALLOW_REUSE`.
fn last_used(e: &Enrollment) -> Option<u64> {
    e.used_steps().and_then(|u| u.iter().copied().max())
}

fn check_totp(
    e: &mut Enrollment,
    key: &mut Codes<'_>,
    window: Window,
    code: u32,
    now: u64,
    rules: &Rules,
) -> Result<Check, FormatError> {
    let require_reuse = rules.minimums.require_disallow_reuse;
    let tm = otp::time_step(now, e.step());
    if let Some(center) = tm.checked_add_signed(e.time_skew())
        && let Some(step) = window.find_totp(key, center, code)
    {
        return Ok(match mark_used(e, step, require_reuse)? {
            true => Check::Accepted(Accepted::Totp { step }),
            false => Check::Refused(Refused::Reused { step }),
        });
    }
    if !rules.skew_learning {
        return Ok(Check::NoMatch);
    }
    // The usual failure is a clock that is off; look for the code far out
    // and learn the skew. Every step is computed (the nearest match wins),
    // so timing says nothing; steps go through the generator [`otp::LANES`] at a time.
    let offsets = 2 * SKEW_SEARCH_STEPS as usize + 1;
    let mut skew = None;
    for first in (0..offsets).step_by(otp::LANES) {
        // Offsets of this batch; a step before 0 or past u64::MAX is not searched.
        let mut batch = [None; otp::LANES];
        let mut counters = [tm; otp::LANES];
        for (lane, k) in (first..offsets.min(first + otp::LANES)).enumerate() {
            let s = skew_search_offset(k);
            if let Some(step) = tm.checked_add_signed(s) {
                batch[lane] = Some(s);
                counters[lane] = step;
            }
        }
        let found = key.batch(&counters, DIGITS);
        for (s, &f) in batch.iter().zip(&found) {
            if let Some(s) = *s
                && codes_equal(f, code)
                && skew.is_none()
            {
                skew = Some(s);
            }
        }
    }
    let Some(skew) = skew else {
        return Ok(Check::NoMatch);
    };
    // A replayed code (a step at or below the newest one used) never counts.
    if let (Some(step), Some(used)) = (tm.checked_add_signed(skew), last_used(e))
        && step <= used
    {
        return Ok(Check::Refused(Refused::Reused { step }));
    }
    learn_skew(e, tm, skew, require_reuse)
}

/// With `DISALLOW_REUSE` (or `required`): `false` if `step` or a later
/// one was used, otherwise records it (dropping entries the window can no
/// longer reach; a file without the option gets it).
fn mark_used(e: &mut Enrollment, step: u64, required: bool) -> Result<bool, FormatError> {
    let used = match e.used_steps() {
        Some(u) => u,
        None if required => &[],
        None => return Ok(true),
    };
    if used.iter().any(|&u| u >= step) {
        return Ok(false);
    }
    let window = u64::from(e.window());
    let mut kept: Vec<u64> = used
        .iter()
        .copied()
        .filter(|&u| step - u < window)
        .collect();
    kept.push(step);
    e.set_used_steps(kept)?;
    Ok(true)
}

/// Three far-off codes on consecutive server steps with the same skew (±1)
/// set `TIME_SKEW` to their average, and the third logs in.
fn learn_skew(
    e: &mut Enrollment,
    tm: u64,
    skew: i64,
    require_reuse: bool,
) -> Result<Check, FormatError> {
    let used = last_used(e);
    let code_step = |t: u64, s: i64| t.checked_add_signed(s);
    let mut entries: Vec<(u64, i64)> = e
        .resetting_skew()
        .iter()
        .copied()
        .filter(|&(t, s)| used.is_none_or(|u| code_step(t, s).is_some_and(|c| c > u)))
        .collect();
    if entries.len() > 3 {
        entries.drain(..entries.len() - 3);
    }
    if let Some(&(last_tm, last_skew)) = entries.last()
        && code_step(tm, skew) == code_step(last_tm, last_skew)
    {
        return Ok(Check::Refused(Refused::SkewRepeat));
    }
    entries.push((tm, skew));
    if entries.len() > 3 {
        entries.remove(0);
    }
    let consistent = entries.len() == 3
        && entries.windows(2).all(|w| {
            let ((t0, s0), (t1, _)) = (w[0], w[1]);
            t1 > t0 && t1 <= t0.saturating_add(2) && s0.abs_diff(skew) <= 1
        });
    if !consistent {
        e.set_resetting_skew(entries)?;
        return Ok(Check::Refused(Refused::SkewLearning));
    }
    let average = entries.iter().map(|&(_, s)| s).sum::<i64>() / 3;
    e.set_time_skew(average)?;
    e.set_resetting_skew(Vec::new())?;
    if let Some(step) = code_step(tm, skew) {
        // A learned code is a used code too.
        mark_used(e, step, require_reuse)?;
    }
    Ok(Check::Accepted(Accepted::SkewReset { skew: average }))
}

/// Remembers a login from `host` in its own slot, else a free one, else
/// the least recently used.
fn record_grace(e: &mut Enrollment, host: &GraceHost, now: u64) -> Result<(), FormatError> {
    let slots = e.last_logins();
    let slot = slots
        .iter()
        .position(|l| {
            l.as_ref()
                .is_some_and(|l| l.host == host.as_str().as_bytes())
        })
        .or_else(|| slots.iter().position(Option::is_none))
        .or_else(|| (0..GRACE_SLOTS).min_by_key(|&i| slots[i].as_ref().map_or(0, |l| l.when)))
        .unwrap_or(0);
    e.set_last_login(slot, host, now)
}

#[cfg(test)]
mod tests;

//! What the benchmarks share. The programs are `bench-totp` and
//! `bench-policy` (src/bin); each measures one of our modules against the
//! module it replaces through the same real-libpam driver (pam-harness), in
//! one run, and reports ratios: never a pass/fail on a time.

use std::path::PathBuf;

/// The system's copy of the module a benchmark compares against (`name`, e.g.
/// `pam_pwquality.so`), or `None` after telling the user which Debian
/// `package` installs it.
pub fn anchor_module(bench: &str, name: &str, package: &str) -> Option<PathBuf> {
    let path = pam_harness::system_module_dir().join(name);
    if path.exists() {
        return Some(path);
    }
    eprintln!(
        "{bench}: {} is missing (apt-get install {package}, or scripts/deps.sh --test)",
        path.display()
    );
    None
}

/// The median and the 99th percentile of a set of timings, in nanoseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub samples: usize,
}

impl Percentiles {
    pub fn of(mut ns: Vec<u64>) -> Self {
        if ns.is_empty() {
            return Self::default();
        }
        ns.sort_unstable();
        let at = |p: f64| {
            let i = ((ns.len() - 1) as f64 * p).round() as usize;
            ns[i.min(ns.len() - 1)] as f64
        };
        Self {
            p50: at(0.50),
            p99: at(0.99),
            samples: ns.len(),
        }
    }
}

/// `a / b`, where a zero `b` (no timing) gives 0 rather than infinity.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_hundred_timings() {
        let p = Percentiles::of((1..=100).rev().collect());
        assert_eq!((p.p50, p.p99, p.samples), (51.0, 99.0, 100));
        assert_eq!(Percentiles::of(Vec::new()).samples, 0);
        assert_eq!(ratio(3.0, 0.0), 0.0);
    }
}

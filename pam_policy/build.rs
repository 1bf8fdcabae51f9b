//! Links `pam_policy.so` with `-z nodelete`: libpam dlopens a module in every
//! pam_start and dlcloses it in pam_end. Staying loaded makes a process's
//! later transactions skip relocating the module again, keeps the
//! memory-mapped dictionary and zxcvbn's word tables for them, and avoids
//! unloading Rust code whose thread-local destructors may still be registered.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}

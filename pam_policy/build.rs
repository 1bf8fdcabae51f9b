//! Links `pam_policy.so` with `-z nodelete`: libpam dlopens a module in every
//! pam_start and dlcloses it in pam_end. Staying loaded makes a process's
//! later transactions skip relocating the module again, keeps the
//! dictionary copy and zxcvbn's word tables for them, and avoids
//! unloading Rust code whose thread-local destructors may still be registered.
//!
//! And with `-z pack-relative-relocs` (DT_RELR, glibc ≥ 2.36, Debian 12):
//! zxcvbn's tables make about 9,000 relative relocations, 216 KB as RELA
//! records that the loader reads into every process; packed they are a few
//! KB. An older glibc refuses to load the module (a GLIBC_ABI_DT_RELR version
//! need) rather than misload it.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
}

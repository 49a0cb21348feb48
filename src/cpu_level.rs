//! The x86 instruction-set level this binary was compiled for, checked against the CPU it runs on.
//!
//! A build with `-C target-cpu=x86-64-v3` (the Docker image's default) or `native` lets the
//! compiler use AVX2 and FMA everywhere, tract's kernels included; on a CPU without them the
//! first such instruction kills the process with SIGILL and no word of why. `main` calls
//! [`check`] first and refuses to start with a message naming what is missing instead.
//!
//! The CPU is asked directly (CPUID, and XGETBV for what the operating system saves): std's
//! `is_x86_feature_detected!` answers `true` without asking for every feature the build
//! assumes, which is exactly the question here.

use std::fmt;

/// The features a `-C target-cpu` setting can assume beyond baseline x86-64 (the x86-64-v2,
/// v3 and v4 levels), in the order they are reported.
macro_rules! assumed_features {
    ($($name:tt),* $(,)?) => {
        /// The features this build assumes.
        fn assumed() -> Vec<&'static str> {
            let mut assumed = Vec::new();
            $(
                if cfg!(target_feature = $name) {
                    assumed.push($name);
                }
            )*
            assumed
        }

        /// CPUID's answer for each feature against std's (in a build that assumes none of
        /// them, std asks the CPU too).
        #[cfg(all(test, target_arch = "x86_64"))]
        fn std_disagreements() -> Vec<&'static str> {
            let cpu = cpuid::Cpu::read();
            let mut disagree = Vec::new();
            $(
                if !cfg!(target_feature = $name) && cpu.has($name) != std::arch::is_x86_feature_detected!($name) {
                    disagree.push($name);
                }
            )*
            disagree
        }
    };
}

assumed_features!(
    "cmpxchg16b",
    "popcnt",
    "sse3",
    "ssse3",
    "sse4.1",
    "sse4.2",
    "avx",
    "avx2",
    "bmi1",
    "bmi2",
    "f16c",
    "fma",
    "lzcnt",
    "movbe",
    "avx512f",
    "avx512bw",
    "avx512cd",
    "avx512dq",
    "avx512vl",
);

#[cfg(target_arch = "x86_64")]
mod cpuid {
    use std::arch::x86_64::{__cpuid, __cpuid_count, CpuidResult};

    /// What a leaf the CPU does not have would say: no feature bits.
    const NONE: CpuidResult = CpuidResult {
        eax: 0,
        ebx: 0,
        ecx: 0,
        edx: 0,
    };

    /// The CPUID words the features are read from, and what the OS saves on a context switch.
    pub struct Cpu {
        leaf1: CpuidResult,
        leaf7: CpuidResult,
        extended1: CpuidResult,
        /// XCR0: bit 1 SSE, bit 2 AVX, bits 5-7 AVX-512 state saved by the OS.
        xcr0: u64,
    }

    impl Cpu {
        #[allow(unused_unsafe)] // CPUID became safe to call in newer Rust versions.
        pub fn read() -> Self {
            // SAFETY: CPUID exists on every x86-64 CPU; leaves above the maximum are not asked.
            unsafe {
                let max = __cpuid(0).eax;
                let max_extended = __cpuid(0x8000_0000).eax;
                let leaf1 = __cpuid(1);
                let leaf7 = if max >= 7 { __cpuid_count(7, 0) } else { NONE };
                let extended1 = if max_extended >= 0x8000_0001 {
                    __cpuid(0x8000_0001)
                } else {
                    NONE
                };
                let osxsave = leaf1.ecx & (1 << 27) != 0;
                let xcr0 = if osxsave { xgetbv0() } else { 0 };
                Self {
                    leaf1,
                    leaf7,
                    extended1,
                    xcr0,
                }
            }
        }

        pub fn has(&self, feature: &str) -> bool {
            let bit = |word: u32, n: u32| word & (1 << n) != 0;
            let avx_state = self.xcr0 & 0b110 == 0b110;
            let avx512_state = avx_state && self.xcr0 & 0b1110_0000 == 0b1110_0000;
            let (l1, l7, e1) = (&self.leaf1, &self.leaf7, &self.extended1);
            match feature {
                "sse3" => bit(l1.ecx, 0),
                "ssse3" => bit(l1.ecx, 9),
                "cmpxchg16b" => bit(l1.ecx, 13),
                "sse4.1" => bit(l1.ecx, 19),
                "sse4.2" => bit(l1.ecx, 20),
                "movbe" => bit(l1.ecx, 22),
                "popcnt" => bit(l1.ecx, 23),
                "fma" => bit(l1.ecx, 12) && avx_state,
                "avx" => bit(l1.ecx, 28) && avx_state,
                "f16c" => bit(l1.ecx, 29) && avx_state,
                "bmi1" => bit(l7.ebx, 3),
                "avx2" => bit(l7.ebx, 5) && avx_state,
                "bmi2" => bit(l7.ebx, 8),
                "avx512f" => bit(l7.ebx, 16) && avx512_state,
                "avx512dq" => bit(l7.ebx, 17) && avx512_state,
                "avx512cd" => bit(l7.ebx, 28) && avx512_state,
                "avx512bw" => bit(l7.ebx, 30) && avx512_state,
                "avx512vl" => bit(l7.ebx, 31) && avx512_state,
                "lzcnt" => bit(e1.ecx, 5),
                _ => false,
            }
        }
    }

    /// XCR0, read with XGETBV (only called when CPUID says the OS enabled it).
    unsafe fn xgetbv0() -> u64 {
        let (low, high): (u32, u32);
        // SAFETY: the caller checked OSXSAVE, so XGETBV with ECX = 0 is defined.
        unsafe {
            std::arch::asm!("xgetbv", in("ecx") 0, out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags));
        }
        (u64::from(high) << 32) | u64::from(low)
    }
}

/// This CPU lacks features the binary was compiled to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuTooOld {
    /// Every feature the build assumes beyond baseline x86-64.
    pub built_for: Vec<&'static str>,
    /// The ones this CPU does not have.
    pub missing: Vec<&'static str>,
}

impl fmt::Display for CpuTooOld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "this ispotato was built for x86-64 CPUs with {}, but this CPU lacks {}. \
             Run a build for this CPU instead: `cargo build --release` without a target-cpu \
             setting (baseline x86-64), or the Docker image built with \
             `--build-arg X86_LEVEL=x86-64` (README: \"Building for your CPU\")",
            self.built_for.join(" "),
            self.missing.join(" ")
        )
    }
}

impl std::error::Error for CpuTooOld {}

/// The features this build assumes beyond baseline x86-64 (empty for a baseline build).
pub fn built_for() -> Vec<&'static str> {
    assumed()
}

/// `Ok` when the running CPU has every feature this build assumes.
pub fn check() -> Result<(), CpuTooOld> {
    let assumed = assumed();
    #[cfg(target_arch = "x86_64")]
    let has = {
        let cpu = cpuid::Cpu::read();
        move |feature: &str| cpu.has(feature)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let has = |_: &str| true;
    judge(&assumed, has)
}

/// The check on the assumed features and a way to ask the CPU.
fn judge(assumed: &[&'static str], has: impl Fn(&str) -> bool) -> Result<(), CpuTooOld> {
    let missing: Vec<&'static str> = assumed.iter().copied().filter(|f| !has(f)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(CpuTooOld {
        built_for: assumed.to_vec(),
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_running_the_tests_has_what_the_tests_were_built_for() {
        assert_eq!(check(), Ok(()), "built for {:?}", built_for());
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn cpuid_agrees_with_std_on_every_feature_std_asks_the_cpu_about() {
        assert_eq!(std_disagreements(), Vec::<&str>::new());
    }

    #[test]
    fn a_missing_feature_is_named_with_what_the_build_assumes() {
        let refused = judge(&["avx2", "fma", "avx512f"], |f| f != "avx512f").unwrap_err();
        assert_eq!(refused.missing, ["avx512f"]);
        let message = refused.to_string();
        assert!(
            message.contains("built for x86-64 CPUs with avx2 fma avx512f")
                && message.contains("this CPU lacks avx512f")
                && message.contains("X86_LEVEL=x86-64"),
            "{message}"
        );
        assert_eq!(judge(&["avx2"], |_| true), Ok(()));
        assert_eq!(judge(&[], |_| false), Ok(()), "a baseline build runs anywhere");
    }
}

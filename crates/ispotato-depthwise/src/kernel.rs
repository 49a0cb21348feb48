//! The inner loop of the channel-last depthwise convolution: a run of output positions, each a
//! vector of channels, summed over the window's taps, with an optional clamp (the ReLU6 that
//! follows every depthwise layer of the network) applied before the store. Written three ways:
//! AVX-512F, AVX2+FMA and portable Rust; which one runs is asked of the CPU once
//! ([`Isa::best`]).

use std::sync::OnceLock;

/// The instruction sets the kernel is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Portable Rust (the compiler vectorises it for the level the build targets).
    Portable,
    /// 8 lanes with fused multiply-add.
    Avx2Fma,
    /// 16 lanes, masked tails.
    Avx512,
}

impl Isa {
    /// The fastest one this CPU runs, asked once per process.
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| Isa::available().into_iter().last().unwrap_or(Isa::Portable))
    }

    /// Every kernel this CPU can run, slowest first.
    pub fn available() -> Vec<Isa> {
        let mut found = vec![Isa::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                found.push(Isa::Avx2Fma);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                found.push(Isa::Avx512);
            }
        }
        found
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2Fma => "avx2+fma",
            Isa::Avx512 => "avx512f",
        }
    }
}

/// One kernel tap: where its input value sits, relative to the position's first tap, and where
/// its weights start in the tap-major `[taps, channels]` kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tap {
    pub input: isize,
    pub kernel: usize,
}

/// `len` output positions of `channels` channels each. Position `i`, channel `c`:
/// `output[out_start + i * out_step + c] = clamp(bias[c] + sum over taps of
/// input[in_start + i * in_step + tap.input + c] * kernel[tap.kernel + c])`.
#[derive(Debug, Clone, Copy)]
pub struct Run<'t> {
    pub in_start: isize,
    pub in_step: isize,
    pub out_start: usize,
    pub out_step: usize,
    pub len: usize,
    pub channels: usize,
    pub taps: &'t [Tap],
    /// Lower and upper bound of the output (infinite when nothing is fused).
    pub clamp: (f32, f32),
}

/// Why a run was refused: it would read or write outside the slices it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("depthwise run out of bounds: {0}")]
pub struct OutOfBounds(&'static str);

/// Runs `run` with `isa`'s kernel after checking that every index it touches lies inside
/// `input`, `kernel`, `bias` and `output`.
pub fn run(
    isa: Isa,
    run: &Run<'_>,
    input: &[f32],
    kernel: &[f32],
    bias: &[f32],
    output: &mut [f32],
) -> Result<(), OutOfBounds> {
    check(run, input.len(), kernel.len(), bias.len(), output.len())?;
    // SAFETY: `check` proved every index in bounds; the ISA was detected on this CPU.
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 if Isa::available().contains(&Isa::Avx512) => {
                x86::run_avx512(run, input.as_ptr(), kernel.as_ptr(), bias.as_ptr(), output.as_mut_ptr())
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma | Isa::Avx512 if Isa::available().contains(&Isa::Avx2Fma) => {
                x86::run_avx2(run, input.as_ptr(), kernel.as_ptr(), bias.as_ptr(), output.as_mut_ptr())
            }
            _ => run_portable(run, input, kernel, bias, output),
        }
    }
    Ok(())
}

fn check(run: &Run<'_>, input: usize, kernel: usize, bias: usize, output: usize) -> Result<(), OutOfBounds> {
    if run.len == 0 || run.channels == 0 {
        return Ok(());
    }
    if bias < run.channels {
        return Err(OutOfBounds("bias"));
    }
    if run
        .taps
        .iter()
        .any(|t| t.kernel.checked_add(run.channels).is_none_or(|end| end > kernel))
    {
        return Err(OutOfBounds("kernel"));
    }
    let last = (run.len - 1) as isize;
    let out_last = run
        .out_step
        .checked_mul(run.len - 1)
        .and_then(|o| o.checked_add(run.out_start))
        .and_then(|o| o.checked_add(run.channels));
    if out_last.is_none_or(|end| end > output) {
        return Err(OutOfBounds("output"));
    }
    let (lowest, highest) = run.taps.iter().fold((isize::MAX, isize::MIN), |(lo, hi), t| {
        (lo.min(t.input), hi.max(t.input))
    });
    if run.taps.is_empty() {
        return Ok(());
    }
    // Positions advance by a constant step, so the extremes are at the first and last position.
    let starts = [run.in_start, run.in_start + last * run.in_step];
    let first = starts.iter().min().copied().unwrap_or(0) + lowest;
    let end = starts.iter().max().copied().unwrap_or(0) + highest + run.channels as isize;
    if first < 0 || end > input as isize {
        return Err(OutOfBounds("input"));
    }
    Ok(())
}

/// Portable Rust: channels inner, so the compiler vectorises it for the build's level.
fn run_portable(run: &Run<'_>, input: &[f32], kernel: &[f32], bias: &[f32], output: &mut [f32]) {
    let c = run.channels;
    let (lo, hi) = run.clamp;
    for i in 0..run.len {
        let base = run.in_start + i as isize * run.in_step;
        let out = &mut output[run.out_start + i * run.out_step..][..c];
        out.copy_from_slice(&bias[..c]);
        for tap in run.taps {
            let from = (base + tap.input) as usize;
            let x = &input[from..from + c];
            let k = &kernel[tap.kernel..tap.kernel + c];
            for ((o, x), k) in out.iter_mut().zip(x).zip(k) {
                *o += x * k;
            }
        }
        for o in out.iter_mut() {
            *o = o.max(lo).min(hi);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Run;

    /// # Safety
    /// The CPU has AVX2 and FMA; every index `run` touches is inside the pointed-to buffers.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn run_avx2(
        run: &Run<'_>,
        input: *const f32,
        kernel: *const f32,
        bias: *const f32,
        output: *mut f32,
    ) {
        let ch = run.channels;
        let (lo, hi) = (_mm256_set1_ps(run.clamp.0), _mm256_set1_ps(run.clamp.1));
        for i in 0..run.len {
            let x = unsafe { input.offset(run.in_start + i as isize * run.in_step) };
            let o = unsafe { output.add(run.out_start + i * run.out_step) };
            let mut c = 0;
            while c + 32 <= ch {
                unsafe {
                    let mut a0 = _mm256_loadu_ps(bias.add(c));
                    let mut a1 = _mm256_loadu_ps(bias.add(c + 8));
                    let mut a2 = _mm256_loadu_ps(bias.add(c + 16));
                    let mut a3 = _mm256_loadu_ps(bias.add(c + 24));
                    for tap in run.taps {
                        let xp = x.offset(tap.input).add(c);
                        let kp = kernel.add(tap.kernel + c);
                        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xp), _mm256_loadu_ps(kp), a0);
                        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(xp.add(8)), _mm256_loadu_ps(kp.add(8)), a1);
                        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(xp.add(16)), _mm256_loadu_ps(kp.add(16)), a2);
                        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(xp.add(24)), _mm256_loadu_ps(kp.add(24)), a3);
                    }
                    _mm256_storeu_ps(o.add(c), _mm256_min_ps(_mm256_max_ps(a0, lo), hi));
                    _mm256_storeu_ps(o.add(c + 8), _mm256_min_ps(_mm256_max_ps(a1, lo), hi));
                    _mm256_storeu_ps(o.add(c + 16), _mm256_min_ps(_mm256_max_ps(a2, lo), hi));
                    _mm256_storeu_ps(o.add(c + 24), _mm256_min_ps(_mm256_max_ps(a3, lo), hi));
                }
                c += 32;
            }
            while c + 8 <= ch {
                unsafe {
                    let mut a = _mm256_loadu_ps(bias.add(c));
                    for tap in run.taps {
                        a = _mm256_fmadd_ps(
                            _mm256_loadu_ps(x.offset(tap.input).add(c)),
                            _mm256_loadu_ps(kernel.add(tap.kernel + c)),
                            a,
                        );
                    }
                    _mm256_storeu_ps(o.add(c), _mm256_min_ps(_mm256_max_ps(a, lo), hi));
                }
                c += 8;
            }
            while c < ch {
                unsafe {
                    let mut a = *bias.add(c);
                    for tap in run.taps {
                        a = (*x.offset(tap.input).add(c)).mul_add(*kernel.add(tap.kernel + c), a);
                    }
                    *o.add(c) = a.max(run.clamp.0).min(run.clamp.1);
                }
                c += 1;
            }
        }
    }

    /// # Safety
    /// The CPU has AVX-512F; every index `run` touches is inside the pointed-to buffers.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn run_avx512(
        run: &Run<'_>,
        input: *const f32,
        kernel: *const f32,
        bias: *const f32,
        output: *mut f32,
    ) {
        let ch = run.channels;
        let (lo, hi) = (_mm512_set1_ps(run.clamp.0), _mm512_set1_ps(run.clamp.1));
        for i in 0..run.len {
            let x = unsafe { input.offset(run.in_start + i as isize * run.in_step) };
            let o = unsafe { output.add(run.out_start + i * run.out_step) };
            let mut c = 0;
            while c + 64 <= ch {
                unsafe {
                    let mut a0 = _mm512_loadu_ps(bias.add(c));
                    let mut a1 = _mm512_loadu_ps(bias.add(c + 16));
                    let mut a2 = _mm512_loadu_ps(bias.add(c + 32));
                    let mut a3 = _mm512_loadu_ps(bias.add(c + 48));
                    for tap in run.taps {
                        let xp = x.offset(tap.input).add(c);
                        let kp = kernel.add(tap.kernel + c);
                        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(xp), _mm512_loadu_ps(kp), a0);
                        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(xp.add(16)), _mm512_loadu_ps(kp.add(16)), a1);
                        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(xp.add(32)), _mm512_loadu_ps(kp.add(32)), a2);
                        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(xp.add(48)), _mm512_loadu_ps(kp.add(48)), a3);
                    }
                    _mm512_storeu_ps(o.add(c), _mm512_min_ps(_mm512_max_ps(a0, lo), hi));
                    _mm512_storeu_ps(o.add(c + 16), _mm512_min_ps(_mm512_max_ps(a1, lo), hi));
                    _mm512_storeu_ps(o.add(c + 32), _mm512_min_ps(_mm512_max_ps(a2, lo), hi));
                    _mm512_storeu_ps(o.add(c + 48), _mm512_min_ps(_mm512_max_ps(a3, lo), hi));
                }
                c += 64;
            }
            while c < ch {
                // 16 channels at a time; the last block masked to the channels that are left.
                let left = ch - c;
                let mask: __mmask16 = if left >= 16 { 0xffff } else { (1u16 << left) - 1 };
                unsafe {
                    let mut a = _mm512_maskz_loadu_ps(mask, bias.add(c));
                    for tap in run.taps {
                        a = _mm512_fmadd_ps(
                            _mm512_maskz_loadu_ps(mask, x.offset(tap.input).add(c)),
                            _mm512_maskz_loadu_ps(mask, kernel.add(tap.kernel + c)),
                            a,
                        );
                    }
                    _mm512_mask_storeu_ps(o.add(c), mask, _mm512_min_ps(_mm512_max_ps(a, lo), hi));
                }
                c += 16;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// Every kernel this CPU has gives the portable kernel's answer, for channel counts around
    /// each kernel's block sizes, with and without the clamp.
    #[test]
    fn every_kernel_agrees_with_the_portable_one() {
        for channels in [1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 96, 144, 240, 1152] {
            for clamp in [(f32::NEG_INFINITY, f32::INFINITY), (0.0, 0.5)] {
                let positions = 3;
                let taps: Vec<Tap> = (0..5)
                    .map(|t| Tap {
                        input: (t * channels) as isize,
                        kernel: t * channels,
                    })
                    .collect();
                let input = numbers((positions + 5) * channels, channels as u32);
                let kernel = numbers(5 * channels, 7 + channels as u32);
                let bias = numbers(channels, 11);
                let r = Run {
                    in_start: 0,
                    in_step: channels as isize,
                    out_start: 0,
                    out_step: channels,
                    len: positions,
                    channels,
                    taps: &taps,
                    clamp,
                };
                let mut want = vec![0.0; positions * channels];
                run(Isa::Portable, &r, &input, &kernel, &bias, &mut want).unwrap();
                for isa in Isa::available() {
                    let mut got = vec![f32::NAN; positions * channels];
                    run(isa, &r, &input, &kernel, &bias, &mut got).unwrap();
                    for (g, w) in got.iter().zip(&want) {
                        assert!((g - w).abs() <= 1e-5, "{isa:?} c={channels}: {g} vs {w}");
                    }
                }
                if clamp.1 == 0.5 {
                    assert!(want.iter().all(|v| (0.0..=0.5).contains(v)));
                    assert!(want.contains(&0.5) && want.contains(&0.0));
                }
            }
        }
    }

    #[test]
    fn a_run_reaching_outside_its_buffers_is_refused() {
        let taps = [Tap { input: -4, kernel: 0 }, Tap { input: 4, kernel: 4 }];
        let input = vec![0.0; 16];
        let (kernel, bias) = (vec![0.0; 8], vec![0.0; 4]);
        let mut output = vec![0.0; 8];
        let ok = Run {
            in_start: 4,
            in_step: 4,
            out_start: 0,
            out_step: 4,
            len: 2,
            channels: 4,
            taps: &taps,
            clamp: (f32::NEG_INFINITY, f32::INFINITY),
        };
        assert_eq!(run(Isa::best(), &ok, &input, &kernel, &bias, &mut output), Ok(()));
        let before = Run { in_start: 3, ..ok };
        assert_eq!(
            run(Isa::best(), &before, &input, &kernel, &bias, &mut output),
            Err(OutOfBounds("input"))
        );
        let after = Run {
            len: 3,
            out_step: 2,
            ..ok
        };
        assert_eq!(
            run(Isa::best(), &after, &input, &kernel, &bias, &mut output),
            Err(OutOfBounds("input"))
        );
        let wide = Run {
            len: 3,
            in_step: 2,
            ..ok
        };
        assert_eq!(
            run(Isa::best(), &wide, &input, &kernel, &bias, &mut output),
            Err(OutOfBounds("output"))
        );
        let channels = Run {
            channels: 5,
            in_step: 0,
            len: 1,
            ..ok
        };
        assert_eq!(
            run(Isa::best(), &channels, &input, &kernel, &bias, &mut output),
            Err(OutOfBounds("bias"))
        );
    }
}

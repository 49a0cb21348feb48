//! [`ChannelLastDepthwise`]: the project's own tract operator for a depthwise convolution over
//! a channel-last `[N, H, W, C]` activation, with the ReLU6 that follows it fused in.

use tract_core::internal::*;

use crate::kernel::{self, Isa, Run, Tap};

/// The geometry of one depthwise layer, fixed when the graph is prepared. Inputs: the
/// activation `[N, H, W, C]` (or `[H, W, C]`), the kernel tap-major `[KH * KW, C]`, the bias
/// `[C]`; output `[N, OH, OW, C]` (or `[OH, OW, C]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChannelLastDepthwise {
    /// Images in the batch; `None` when the activation has no batch axis (one image).
    pub batch: Option<usize>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    /// Zero rows above and zero columns left of the input (the rest follows from the output size).
    pub pad_before: (usize, usize),
    pub output: (usize, usize),
    /// Clamp the output to `[0, 6]` (the network's ReLU6, fused).
    pub relu6: bool,
    pub isa: Isa,
}

impl ChannelLastDepthwise {
    fn output_shape(&self) -> TVec<usize> {
        let image = [self.output.0, self.output.1, self.channels];
        match self.batch {
            Some(n) => std::iter::once(n).chain(image).collect(),
            None => image.into_iter().collect(),
        }
    }

    fn images(&self) -> usize {
        self.batch.unwrap_or(1)
    }

    /// The kernel taps `ky_range x kx_range`, as input offsets from the window's top-left
    /// corner and offsets into the tap-major kernel.
    fn taps(&self, ky: std::ops::Range<usize>, kx: std::ops::Range<usize>, taps: &mut Vec<Tap>) {
        let (c, w, kw) = (self.channels, self.width, self.kernel.1);
        taps.clear();
        for y in ky {
            for x in kx.clone() {
                taps.push(Tap {
                    input: ((y * w + x) * c) as isize,
                    kernel: (y * kw + x) * c,
                });
            }
        }
    }

    /// The kernel rows (or columns) whose input lies inside the image for output row (or
    /// column) `o`: window origin `o * stride - pad` against `size`.
    fn valid(o: usize, stride: usize, pad: usize, k: usize, size: usize) -> (isize, std::ops::Range<usize>) {
        let origin = (o * stride) as isize - pad as isize;
        let first = (-origin).clamp(0, k as isize) as usize;
        let last = (size as isize - origin).clamp(0, k as isize) as usize;
        (origin, first..last.max(first))
    }

    /// Output columns whose whole window lies inside the image.
    fn interior_columns(&self) -> std::ops::Range<usize> {
        let (stride, pad, k, w) = (self.stride.1, self.pad_before.1, self.kernel.1, self.width);
        let first = pad.div_ceil(stride).min(self.output.1);
        let last = if w + pad >= k {
            ((w + pad - k) / stride + 1).min(self.output.1)
        } else {
            0
        };
        first..last.max(first)
    }

    fn eval_f32(&self, x: &[f32], k: &[f32], bias: &[f32], out: &mut [f32]) -> TractResult<()> {
        let (h, w, c) = (self.height, self.width, self.channels);
        let (oh, ow) = self.output;
        let clamp = if self.relu6 {
            (0.0, 6.0)
        } else {
            (f32::NEG_INFINITY, f32::INFINITY)
        };
        let interior = self.interior_columns();
        let mut taps = Vec::with_capacity(self.kernel.0 * self.kernel.1);
        for n in 0..self.images() {
            for oy in 0..oh {
                let (iy, ky) = Self::valid(oy, self.stride.0, self.pad_before.0, self.kernel.0, h);
                let row_out = ((n * oh + oy) * ow) * c;
                // The window's top-left corner, in elements; `ky.start` rows below it is the
                // first row the taps read.
                let corner = |ix: isize| ((n * h) as isize + iy) * (w * c) as isize + ix * c as isize;
                let mut columns = |range: std::ops::Range<usize>, kx: std::ops::Range<usize>, ix: isize| {
                    self.taps(ky.clone(), kx, &mut taps);
                    let r = Run {
                        in_start: corner(ix),
                        in_step: (self.stride.1 * c) as isize,
                        out_start: row_out + range.start * c,
                        out_step: c,
                        len: range.len(),
                        channels: c,
                        taps: &taps,
                        clamp,
                    };
                    kernel::run(self.isa, &r, x, k, bias, out).map_err(|e| format_err!("{e}"))
                };
                // Border columns one at a time with the taps inside the image; the interior as
                // one run with every tap.
                for ox in (0..interior.start).chain(interior.end..ow) {
                    let (ix, kx) = Self::valid(ox, self.stride.1, self.pad_before.1, self.kernel.1, w);
                    columns(ox..ox + 1, kx, ix)?;
                }
                if !interior.is_empty() {
                    let ix = (interior.start * self.stride.1) as isize - self.pad_before.1 as isize;
                    columns(interior.clone(), 0..self.kernel.1, ix)?;
                }
            }
        }
        Ok(())
    }
}

impl Op for ChannelLastDepthwise {
    fn name(&self) -> StaticName {
        "IsPotatoDepthwise".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}x{} stride {:?} pad {:?} on {}x{}x{}{} ({})",
            self.kernel.0,
            self.kernel.1,
            self.stride,
            self.pad_before,
            self.height,
            self.width,
            self.channels,
            if self.relu6 { " + relu6" } else { "" },
            self.isa.name()
        )])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for ChannelLastDepthwise {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, k, bias) = args_3!(inputs);
        let (x, k, bias) = (x.try_as_plain_ram()?, k.try_as_plain_ram()?, bias.try_as_plain_ram()?);
        let (x, k, bias) = (x.as_slice::<f32>()?, k.as_slice::<f32>()?, bias.as_slice::<f32>()?);
        ensure!(
            x.len() == self.images() * self.height * self.width * self.channels,
            "input size"
        );
        ensure!(k.len() == self.kernel.0 * self.kernel.1 * self.channels, "kernel size");
        ensure!(bias.len() == self.channels, "bias size");
        let mut output = Tensor::zero::<f32>(&self.output_shape())?;
        self.eval_f32(x, k, bias, output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?)?;
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for ChannelLastDepthwise {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs.len() == 3,
            "IsPotatoDepthwise takes the input, the kernel and the bias"
        );
        ensure!(
            inputs.iter().all(|f| f.datum_type == f32::datum_type()),
            "IsPotatoDepthwise runs f32"
        );
        Ok(tvec!(f32::fact(&*self.output_shape())))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let taps = self.kernel.0 * self.kernel.1;
        let points = self.images() * self.output.0 * self.output.1 * self.channels;
        Ok(tvec!((Cost::FMA(f32::datum_type()), (taps * points).into())))
    }

    as_op!();
}

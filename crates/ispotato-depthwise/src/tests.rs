//! The own op against tract's: the same graph optimised with and without the patch, on random
//! shapes, strides 1 and 2, every padding the network uses and the other ONNX ones, with and
//! without the ReLU6 after it, on every kernel this CPU runs.

use tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_core::ops::math::{max, min};
use tract_core::ops::nn::DataFormat;
use tract_core::prelude::*;

use super::{use_own_depthwise, Isa};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn values(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| ((self.next() % 20001) as f32 / 10000.0 - 1.0) * scale)
            .collect()
    }
}

#[derive(Debug, Clone)]
struct Case {
    h: usize,
    w: usize,
    c: usize,
    k: usize,
    stride: usize,
    padding: PaddingSpec,
    relu6: bool,
    format: DataFormat,
}

impl Case {
    fn shape(&self) -> Vec<usize> {
        let (h, w, c) = (self.h, self.w, self.c);
        match self.format {
            DataFormat::NHWC => vec![1, h, w, c],
            DataFormat::NCHW => vec![1, c, h, w],
            DataFormat::HWC => vec![h, w, c],
            DataFormat::CHW => vec![c, h, w],
        }
    }
}

/// A one-layer graph: the input in `case.format`, a depthwise convolution as ONNX gives it (OIHW kernel), and
/// ReLU6 as ONNX `Clip` declutters (`Max(x, 0)` then `Min(x, 6)`) when `relu6`.
fn graph(case: &Case, rng: &mut Rng) -> TractResult<(TypedModel, Tensor)> {
    let Case { h, w, c, k, .. } = *case;
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(case.shape()))?;
    let kernel = Tensor::from_shape(&[c, 1, k, k], &rng.values(c * k * k, 1.0))?;
    let kernel = model.add_const("k", kernel)?;
    let bias = model.add_const("b", Tensor::from_shape(&[c], &rng.values(c, 1.0))?)?;
    let conv = Conv {
        pool_spec: PoolSpec {
            data_format: case.format,
            kernel_shape: tvec!(k, k),
            padding: case.padding.clone(),
            dilations: None,
            strides: Some(tvec!(case.stride, case.stride)),
            input_channels: c,
            output_channels: c,
        },
        kernel_fmt: KernelFormat::OIHW,
        group: c,
        q_params: None,
    };
    let mut out = model.wire_node("dw", conv, &[x, kernel, bias])?;
    if case.relu6 {
        let ones = vec![1; case.shape().len()];
        let zero = model.add_const("zero", Tensor::from_shape(&ones, &[0f32])?)?;
        let six = model.add_const("six", Tensor::from_shape(&ones, &[6f32])?)?;
        out = model.wire_node("clip.lower", max(), &[out[0], zero])?;
        out = model.wire_node("clip.upper", min(), &[out[0], six])?;
    }
    model.select_output_outlets(&out)?;
    // Inputs up to 4 in magnitude, so ReLU6 clips at both ends.
    let input = Tensor::from_shape(&case.shape(), &rng.values(h * w * c, 4.0))?;
    Ok((model, input))
}

fn run(model: TypedModel, input: &Tensor) -> TractResult<Vec<f32>> {
    let out = model
        .into_optimized()?
        .into_runnable()?
        .run(tvec!(input.clone().into()))?;
    Ok(out[0].try_as_plain_ram()?.as_slice::<f32>()?.to_vec())
}

fn op_names(model: &TypedModel) -> Vec<String> {
    model.nodes().iter().map(|n| n.op().name().to_string()).collect()
}

fn check(case: &Case, seed: u64) {
    let mut rng = Rng(seed);
    let (model, input) = graph(case, &mut rng).unwrap();
    let want = run(model.clone(), &input).unwrap();
    for isa in Isa::available() {
        let mut patched = model.clone().into_decluttered().unwrap();
        assert_eq!(use_own_depthwise(&mut patched, isa).unwrap(), 1, "{case:?}");
        let names = op_names(&patched.clone().into_optimized().unwrap());
        assert!(names.iter().any(|n| n == "IsPotatoDepthwise"), "{case:?}: {names:?}");
        assert!(
            !names.iter().any(|n| n == "DepthWiseConv" || n == "Conv"),
            "{case:?}: {names:?}"
        );
        if case.relu6 {
            assert!(
                !names.iter().any(|n| n.contains("Max") || n.contains("Min")),
                "{case:?}: {names:?}"
            );
        }
        let got = run(patched, &input).unwrap();
        assert_eq!(got.len(), want.len(), "{case:?}");
        let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs()).fold(0f32, f32::max);
        assert!(
            worst <= 1e-5,
            "{isa:?} {case:?} (seed {seed}): worst difference {worst}"
        );
    }
}

/// The paddings EfficientNet-Lite0's depthwise layers have in the ONNX export (symmetric
/// `k / 2`, for 3x3 and 5x5 at strides 1 and 2), and the other ways ONNX pads.
fn paddings(k: usize) -> Vec<PaddingSpec> {
    vec![
        PaddingSpec::Explicit(tvec!(k / 2, k / 2), tvec!(k / 2, k / 2)),
        PaddingSpec::Explicit(tvec!(k / 2 - 1, k / 2), tvec!(k / 2, k / 2 - 1)),
        PaddingSpec::Explicit(tvec!(0, 0), tvec!(k - 1, k - 1)),
        PaddingSpec::Valid,
        PaddingSpec::SameUpper,
        PaddingSpec::SameLower,
    ]
}

#[test]
fn the_own_op_matches_tracts_on_random_shapes() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut cases = 0;
    for k in [3, 5] {
        for stride in [1, 2] {
            for padding in paddings(k) {
                for relu6 in [false, true] {
                    for _ in 0..3 {
                        let c = [1, 3, 8, 16, 17, 32, 40, 64, 72, 96, 144][rng.below(11)];
                        let (h, w) = (k + rng.below(14), k + rng.below(14));
                        let format =
                            [DataFormat::NHWC, DataFormat::NCHW, DataFormat::HWC, DataFormat::CHW][rng.below(4)];
                        let case = Case {
                            h,
                            w,
                            c,
                            k,
                            stride,
                            padding: padding.clone(),
                            relu6,
                            format,
                        };
                        check(&case, rng.next());
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, 144);
}

#[test]
fn the_networks_layer_shapes_match_tracts() {
    // EfficientNet-Lite0's depthwise layers at 224 px: (input size, channels, kernel, stride).
    let layers = [
        (112, 32, 3, 1),
        (112, 96, 3, 2),
        (56, 144, 3, 1),
        (56, 144, 5, 2),
        (28, 240, 5, 1),
        (28, 240, 3, 2),
        (14, 480, 3, 1),
        (14, 480, 5, 1),
        (14, 672, 5, 1),
        (14, 672, 5, 2),
        (7, 1152, 5, 1),
        (7, 1152, 3, 1),
    ];
    for (i, (size, c, k, stride)) in layers.into_iter().enumerate() {
        let padding = PaddingSpec::Explicit(tvec!(k / 2, k / 2), tvec!(k / 2, k / 2));
        // As the decluttered export holds them: channel-first, no batch axis.
        let format = DataFormat::CHW;
        check(
            &Case {
                h: size,
                w: size,
                c,
                k,
                stride,
                padding,
                relu6: true,
                format,
            },
            7 + i as u64,
        );
    }
}

#[test]
fn windows_wholly_in_the_padding_give_the_clamped_bias() {
    // A 1x1 image, 5x5 kernel, padding 4 on every side: most outputs see no input at all.
    let case = Case {
        h: 1,
        w: 1,
        c: 24,
        k: 5,
        stride: 1,
        padding: PaddingSpec::Explicit(tvec!(4, 4), tvec!(4, 4)),
        relu6: true,
        format: DataFormat::NHWC,
    };
    check(&case, 3);
}

#[test]
fn a_depthwise_layer_shared_by_two_readers_keeps_its_relu6_separate() {
    // The ReLU6 is fused only when nothing else reads the convolution's output.
    let mut rng = Rng(5);
    let case = Case {
        h: 6,
        w: 6,
        c: 8,
        k: 3,
        stride: 1,
        padding: PaddingSpec::SameUpper,
        relu6: true,
        format: DataFormat::NCHW,
    };
    let (mut model, input) = graph(&case, &mut rng).unwrap();
    let dw = model.node_by_name("dw").unwrap().id;
    let mut outputs = model.output_outlets().unwrap().to_vec();
    outputs.push(OutletId::new(dw, 0));
    model.select_output_outlets(&outputs).unwrap();
    let want = model
        .clone()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap()
        .run(tvec!(input.clone().into()))
        .unwrap();
    let mut patched = model.into_decluttered().unwrap();
    assert_eq!(use_own_depthwise(&mut patched, Isa::best()).unwrap(), 1);
    let got = patched
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap()
        .run(tvec!(input.into()))
        .unwrap();
    for (g, w) in got.iter().zip(&want) {
        let (g, w) = (g.try_as_plain_ram().unwrap(), w.try_as_plain_ram().unwrap());
        let (g, w) = (g.as_slice::<f32>().unwrap(), w.as_slice::<f32>().unwrap());
        assert!(g.iter().zip(w).all(|(a, b)| (a - b).abs() <= 1e-5));
    }
    // The unclamped output really is unclamped.
    let raw = got[1].try_as_plain_ram().unwrap();
    assert!(raw
        .as_slice::<f32>()
        .unwrap()
        .iter()
        .any(|&v| !(0.0..=6.0).contains(&v)));
}

//! The model patch: every f32 depthwise convolution of a decluttered graph becomes a
//! [`ChannelLastDepthwise`], taking the ReLU6 that follows it (`Max(x, 0)` then `Min(x, 6)`, as
//! ONNX `Clip` declutters) into the same pass. A channel-first (NCHW) one is wrapped in moves of
//! the channel axis, as tract's own `conv_nhwc` rewrite does: between two layers the optimiser
//! cancels the pair, so activations stay channel-last through the network.

use tract_core::ops::binary::TypedBinOp;
use tract_core::ops::change_axes::AxisOp;
use tract_core::ops::cnn::{Conv, KernelFormat};
use tract_core::ops::nn::DataFormat;
use tract_core::prelude::*;

use crate::kernel::Isa;
use crate::op::ChannelLastDepthwise;

/// Replaces every depthwise convolution the op can run, with `isa`'s kernel. Returns how many.
/// Run it on a decluttered model, before tract's `conv_nhwc` rewrite (which would lower the
/// depthwise layers to its own kernel) and `into_optimized`.
pub fn use_own_depthwise(model: &mut TypedModel, isa: Isa) -> TractResult<usize> {
    let candidates: Vec<usize> = model
        .eval_order()?
        .into_iter()
        .filter(|&id| model.node(id).op_as::<Conv>().is_some())
        .collect();
    let mut replaced = 0;
    for id in candidates {
        if let Some(patch) = depthwise_patch(model, id, isa)? {
            patch.apply(model)?;
            replaced += 1;
        }
    }
    model.compact()?;
    Ok(replaced)
}

/// The patch for the convolution node `id`, or `None` when it is not one the op runs.
fn depthwise_patch(model: &TypedModel, id: usize, isa: Isa) -> TractResult<Option<TypedModelPatch>> {
    let node = model.node(id);
    let Some(conv) = node.op_as::<Conv>() else {
        return Ok(None);
    };
    let spec = &conv.pool_spec;
    let c = spec.input_channels;
    if conv.q_params.is_some()
        || conv.group != c
        || spec.output_channels != c
        || spec.kernel_shape.len() != 2
        || spec.dilations().iter().any(|&d| d != 1)
        || node.inputs.len() != 3
    {
        return Ok(None);
    }
    let (channels_first, has_batch) = match spec.data_format {
        DataFormat::NCHW => (true, true),
        DataFormat::CHW => (true, false),
        DataFormat::NHWC => (false, true),
        DataFormat::HWC => (false, false),
    };
    let x_fact = model.outlet_fact(node.inputs[0])?;
    let (Some(kernel), Some(bias)) = (
        model.outlet_fact(node.inputs[1])?.konst.clone(),
        model.outlet_fact(node.inputs[2])?.konst.clone(),
    ) else {
        return Ok(None);
    };
    let Some(shape) = x_fact.shape.as_concrete() else {
        return Ok(None);
    };
    let rank = 3 + has_batch as usize;
    if x_fact.datum_type != f32::datum_type()
        || kernel.datum_type() != f32::datum_type()
        || bias.datum_type() != f32::datum_type()
        || shape.len() != rank
    {
        return Ok(None);
    }
    // [N, H, W, C] whichever way the graph holds it (N = 1 without a batch axis).
    let image = &shape[has_batch as usize..];
    let [h, w, channels] = if channels_first {
        [image[1], image[2], image[0]]
    } else {
        [image[0], image[1], image[2]]
    };
    if channels != c {
        return Ok(None);
    }
    let (kh, kw) = (spec.kernel_shape[0], spec.kernel_shape[1]);
    let Some(kernel) = tap_major(&kernel, conv.kernel_fmt, kh, kw, c)? else {
        return Ok(None);
    };
    let bias = match bias.len() {
        n if n == c => (*bias).clone().into_shape(&[c])?,
        1 => tensor1(&vec![bias.try_as_plain_ram()?.as_slice::<f32>()?[0]; c]),
        _ => return Ok(None),
    };
    let padding = spec.computed_padding(&[h, w]);
    let strides = spec.strides();
    let mut op = ChannelLastDepthwise {
        batch: has_batch.then(|| shape[0]),
        height: h,
        width: w,
        channels: c,
        kernel: (kh, kw),
        stride: (strides[0], strides[1]),
        pad_before: (padding[0].pad_before, padding[1].pad_before),
        output: (padding[0].convoluted, padding[1].convoluted),
        relu6: false,
        isa,
    };
    // The ReLU6 after it, when nothing else reads the values in between.
    let mut last = OutletId::new(id, 0);
    if let Some(relu6_end) = relu6_after(model, id)? {
        op.relu6 = true;
        last = relu6_end;
    }
    let mut patch = TypedModelPatch::new(format!("own depthwise for {}", node.name));
    let mut x = patch.tap_model(model, node.inputs[0])?;
    if channels_first {
        x = patch.wire_node(format!("{}.nhwc_in", node.name), AxisOp::Move(rank - 3, rank - 1), &[x])?[0];
    }
    let k = patch.add_const(format!("{}.kernel_tap_major", node.name), kernel)?;
    let b = patch.add_const(format!("{}.bias", node.name), bias)?;
    let mut out = patch.wire_node(&node.name, op, &[x, k, b])?[0];
    if channels_first {
        out = patch.wire_node(
            format!("{}.nhwc_out", node.name),
            AxisOp::Move(rank - 1, rank - 3),
            &[out],
        )?[0];
    }
    patch.shunt_outside(model, last, out)?;
    Ok(Some(patch))
}

/// The kernel as `[KH * KW, C]`, tap-major, from the formats a depthwise ONNX convolution comes
/// in (`None` for a shape that is not a depthwise kernel of `c` channels).
fn tap_major(kernel: &Tensor, fmt: KernelFormat, kh: usize, kw: usize, c: usize) -> TractResult<Option<Tensor>> {
    let plain = kernel.try_as_plain_ram()?;
    let k = plain.as_slice::<f32>()?;
    if k.len() != kh * kw * c {
        return Ok(None);
    }
    let taps = kh * kw;
    let out: Vec<f32> = match fmt {
        // [C, 1, KH, KW] and [C, KH, KW, 1]: channel-major.
        KernelFormat::OIHW | KernelFormat::OHWI => (0..taps * c).map(|i| k[(i % c) * taps + i / c]).collect(),
        // [KH, KW, 1, C]: already tap-major.
        KernelFormat::HWIO => k.to_vec(),
    };
    Ok(Some(Tensor::from_shape(&[taps, c], &out)?))
}

/// The outlet ending `Max(x, 0)` then `Min(x, 6)` right after node `id`, each the only reader
/// of what it takes.
fn relu6_after(model: &TypedModel, id: usize) -> TractResult<Option<OutletId>> {
    let Some(max) = model.single_succ(id)? else {
        return Ok(None);
    };
    if !is_bin_with_constant(model, max, "Max", 0.0)? {
        return Ok(None);
    }
    let Some(min) = model.single_succ(max.id)? else {
        return Ok(None);
    };
    if !is_bin_with_constant(model, min, "Min", 6.0)? {
        return Ok(None);
    }
    Ok(Some(OutletId::new(min.id, 0)))
}

fn is_bin_with_constant(model: &TypedModel, node: &TypedNode, name: &str, value: f32) -> TractResult<bool> {
    let Some(op) = node.op_as::<TypedBinOp>() else {
        return Ok(false);
    };
    if op.0.name() != name || node.inputs.len() != 2 {
        return Ok(false);
    }
    let konst = model.outlet_fact(node.inputs[1])?.konst.clone();
    Ok(konst.is_some_and(|k| {
        k.datum_type() == f32::datum_type()
            && k.len() == 1
            && k.try_as_plain_ram()
                .and_then(|p| Ok(p.as_slice::<f32>()?[0] == value))
                .unwrap_or(false)
    }))
}

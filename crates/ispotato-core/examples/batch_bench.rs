//! Would several waiting images be judged faster as one batch? The serving backbone (channel-
//! last, optimised as `Classifier::load` prepares it, outputs unpinned from batch 1) at batch 1, 2 and 4, timed per image over
//! alternating rounds (machines drift), one thread as the workers run it. Release build, pin it
//! to one core:
//!
//! `taskset -c 0 cargo run --release -p ispotato-core --example batch_bench -- [ROUNDS] [RUNS]`
use std::time::Instant;

use tract_onnx::prelude::*;

const BATCHES: [usize; 3] = [1, 2, 4];

fn main() -> TractResult<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5).max(1);
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(8).max(1);
    let onnx = std::fs::read("models/efficientnet_lite0_features.onnx")?;
    let plans = BATCHES
        .iter()
        .map(|&n| batched_backbone(&onnx, n)?.into_runnable())
        .collect::<TractResult<Vec<_>>>()?;
    let mut per_image: Vec<Vec<f64>> = vec![Vec::new(); BATCHES.len()];
    for round in 0..rounds {
        for k in 0..BATCHES.len() {
            // Rotate which batch size goes first.
            let i = (k + round) % BATCHES.len();
            let n = BATCHES[i];
            let input: Tensor = tract_ndarray::Array4::<f32>::from_shape_fn([n, 3, 224, 224], |(b, c, y, x)| {
                ((b * 11 + c * 7 + y * 3 + x) % 255) as f32 / 128.0 - 1.0
            })
            .into();
            plans[i].run(tvec!(input.clone().into_tvalue()))?; // warm-up
            let mut times = Vec::with_capacity(runs);
            for _ in 0..runs {
                let started = Instant::now();
                let out = plans[i].run(tvec!(input.clone().into_tvalue()))?;
                times.push(started.elapsed().as_secs_f64() * 1000.0 / n as f64);
                std::hint::black_box(out);
            }
            per_image[i].push(median(times));
        }
    }
    println!("{rounds} rounds x {runs} runs, one thread; inference ms per image, median of the rounds' medians\n");
    println!("| batch | ms per image | images/s | vs batch 1 |");
    println!("|---|---|---|---|");
    let one = median(per_image[0].clone());
    for (n, times) in BATCHES.iter().zip(&per_image) {
        let ms = median(times.clone());
        println!("| {n} | {ms:.2} | {:.1} | {:.2}x |", 1000.0 / ms, one / ms);
    }
    Ok(())
}

/// `classifier::optimised_backbone` at batch `n`: the export pins every value to batch 1, so
/// those facts are cleared for tract to infer them again.
fn batched_backbone(onnx: &[u8], n: usize) -> TractResult<TypedModel> {
    let mut model = tract_onnx::onnx().model_for_read(&mut &*onnx)?;
    // Every computed value's shape, as the export recorded it, is pinned to batch 1: forget
    // them (constants keep theirs).
    let inputs: Vec<usize> = model.input_outlets()?.iter().map(|o| o.node).collect();
    for node in 0..model.nodes().len() {
        if inputs.contains(&node) || model.nodes()[node].op.name() == "Const" {
            continue;
        }
        for slot in 0..model.nodes()[node].outputs.len() {
            model.set_outlet_fact(OutletId::new(node, slot), InferenceFact::default())?;
        }
    }
    let mut model = model
        .with_input_fact(0, f32::fact([n, 3, 224, 224]).into())?
        .into_typed()?
        .into_decluttered()?;
    let transform = tract_onnx::tract_core::transform::get_transform("conv_nhwc")?
        .ok_or_else(|| tract_onnx::tract_core::internal::format_err!("this tract has no conv_nhwc transform"))?;
    ispotato_core::model::depthwise::use_own_depthwise(&mut model, ispotato_core::model::depthwise::Isa::best())?;
    model.transform(&*transform)?;
    model.into_optimized()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

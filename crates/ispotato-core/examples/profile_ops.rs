//! Where tract spends the backbone's inference time: every node of the optimised graph timed
//! over many runs (medians), per operator kind and for the slowest nodes, for the layout serving
//! uses (channel-last) and the graph as exported. Release build, pin it to one core:
//!
//! `taskset -c 0 cargo run --release -p ispotato-core --example profile_ops -- [ONNX] [RUNS]`
use std::collections::BTreeMap;
use std::time::Instant;

use ispotato_core::model::{optimised_backbone, Layout};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::{eval, SimpleState};

const SHAPE: [usize; 4] = [1, 3, 224, 224];

fn main() -> TractResult<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "models/efficientnet_lite0_features.onnx".into());
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(30).max(1);
    let onnx = std::fs::read(&path)?;
    for layout in [
        Layout::ChannelsLastOwnDepthwise,
        Layout::ChannelsLast,
        Layout::AsExported,
    ] {
        let plan = optimised_backbone(&onnx, SHAPE, layout)?.into_runnable()?;
        println!("\n{layout:?}: {}", profile(&plan, runs)?);
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn profile(plan: &std::sync::Arc<TypedSimplePlan>, runs: usize) -> TractResult<String> {
    let input: Tensor = tract_ndarray::Array4::<f32>::from_shape_fn(SHAPE, |(_, c, y, x)| {
        ((c * 7 + y * 3 + x) % 255) as f32 / 128.0 - 1.0
    })
    .into();
    let mut state = SimpleState::new(plan)?;
    let mut nodes: BTreeMap<usize, (String, String, Vec<f64>)> = BTreeMap::new();
    let mut totals = Vec::with_capacity(runs);
    for _ in 0..=runs {
        let started = Instant::now();
        state.run_plan_with_eval(tvec!(input.clone().into()), |ctx, op_state, node, inputs| {
            let t = Instant::now();
            let out = eval(ctx, op_state, node, inputs);
            let entry = nodes
                .entry(node.id)
                .or_insert_with(|| (node.op().name().to_string(), node.name.clone(), Vec::new()));
            entry.2.push(t.elapsed().as_secs_f64() * 1e3);
            out
        })?;
        totals.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let mut by_op: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    let mut slowest: Vec<(f64, String, String)> = nodes
        .into_values()
        .map(|(op, name, times)| {
            let m = median(times);
            let e = by_op.entry(op.clone()).or_default();
            e.0 += 1;
            e.1 += m;
            (m, op, name)
        })
        .collect();
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out = format!(
        "median {:.2} ms per run over {runs} runs (timed per node)\n",
        median(totals)
    );
    out += &format!("{:<24} {:>5} {:>9}\n", "operator", "nodes", "ms");
    for (op, (n, t)) in by_op {
        out += &format!("{op:<24} {n:>5} {t:>9.2}\n");
    }
    out += "slowest nodes:\n";
    for (m, op, name) in slowest.iter().take(10) {
        out += &format!("{m:>8.3} ms  {op:<22} {name}\n");
    }
    Ok(out)
}

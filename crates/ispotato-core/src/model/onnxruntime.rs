//! The onnxruntime backend (cargo feature `onnxruntime`): the `ort` crate with the shared
//! library loaded at run time. One intra-op thread per session, like the serving path's one
//! worker thread per image; one session per core so each worker thread runs its own (`ort` runs
//! a session through `&mut`), all sharing one copy of the prepacked weights.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};

use ort::environment::Environment;
use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::session::Session;
use ort::value::Tensor;
use prost::Message;
use tract_onnx::pb::{tensor_shape_proto, type_proto, ModelProto, TypeProto, ValueInfoProto};

use crate::model::backend::BackboneRun;

/// The process's one onnxruntime environment, and the library it was made from.
static ENVIRONMENT: OnceLock<(PathBuf, Result<Environment, String>)> = OnceLock::new();

/// The environment on the library at `lib`, loaded on first use. A process loads one
/// onnxruntime: asking for another library afterwards is refused rather than ignored.
fn environment(lib: &Path) -> Result<&'static Environment, String> {
    if ENVIRONMENT.get().is_none() && !lib.is_file() {
        return Err(format!("the onnxruntime library {} does not exist", lib.display()));
    }
    let (loaded, environment) = ENVIRONMENT.get_or_init(|| {
        let environment = ort::init_from(lib)
            .map_err(|e| format!("cannot load onnxruntime: {e}"))
            .and_then(|builder| {
                builder
                    .with_name("ispotato")
                    .with_telemetry(false)
                    .build()
                    .map_err(|e| format!("cannot start onnxruntime: {e}"))
            });
        (lib.to_path_buf(), environment)
    });
    if loaded != lib {
        return Err(format!(
            "this process loaded onnxruntime from {} already, not {}",
            loaded.display(),
            lib.display()
        ));
    }
    environment.as_ref().map_err(Clone::clone)
}

pub(crate) struct OrtBackbone {
    shape: [usize; 4],
    /// One session per core (the serving workers run one thread per core), made at load so
    /// the model's bytes need not be kept; they share one container of prepacked weights, so
    /// each further session costs its activations, not another copy of the packed weights.
    sessions: Vec<Mutex<Session>>,
    /// Where the next caller starts looking for a free session.
    next: AtomicUsize,
}

impl OrtBackbone {
    pub(crate) fn load(lib: &Path, onnx: &[u8], shape: [usize; 4]) -> Result<Self, String> {
        let environment = environment(lib)?;
        let onnx = serving_onnx(onnx)?;
        let onnx = onnx.as_slice();
        let prepacked = PrepackedWeights::new();
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        let sessions = (0..count)
            .map(|_| session(environment, &prepacked, onnx).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            shape,
            sessions,
            next: AtomicUsize::new(0),
        })
    }

    /// A free session if there is one, else the next one in turn (waiting for it).
    fn take(&self) -> MutexGuard<'_, Session> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.sessions.len();
        (0..count)
            .find_map(|i| match self.sessions[(start + i) % count].try_lock() {
                Ok(session) => Some(session),
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            })
            .unwrap_or_else(|| self.sessions[start % count].lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn run(&self, input: tract_onnx::prelude::tract_ndarray::Array4<f32>) -> Result<BackboneRun, String> {
        let mut runs = self.run_batch(vec![input])?;
        runs.pop()
            .ok_or_else(|| "onnxruntime: no output for the image".to_string())
    }

    /// Runs the backbone on several preprocessed inputs as one batch (the model's batch axis is
    /// made free at load): one [`BackboneRun`] per input, in order, each as a lone run gives it.
    pub(crate) fn run_batch(
        &self,
        inputs: Vec<tract_onnx::prelude::tract_ndarray::Array4<f32>>,
    ) -> Result<Vec<BackboneRun>, String> {
        let n = inputs.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        if let Some(input) = inputs.iter().find(|input| input.shape() != &self.shape[..]) {
            return Err(format!(
                "onnxruntime: an input is {:?}, not {:?}",
                input.shape(),
                self.shape
            ));
        }
        // The first input's buffer carries the batch, so a lone image is not copied.
        let mut inputs = inputs.into_iter().map(|input| input.into_raw_vec_and_offset().0);
        let mut data = inputs.next().unwrap_or_default();
        data.reserve(data.len() * (n - 1));
        inputs.for_each(|more| data.extend(more));
        let shape = [n, self.shape[1], self.shape[2], self.shape[3]];
        let tensor = Tensor::from_array((shape, data)).map_err(|e| format!("onnxruntime: {e}"))?;
        let mut session = self.take();
        let outputs = session
            .run(ort::inputs![tensor])
            .map_err(|e| format!("onnxruntime: {e}"))?;
        let mut values = outputs.values();
        let first = values.next().ok_or("onnxruntime: the model has no output")?;
        let (_, features) = first
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("onnxruntime: {e}"))?;
        let features = split_batch(features, n, "the features")?;
        let maps = match values.next() {
            Some(map) => {
                let (shape, data) = map
                    .try_extract_tensor::<f32>()
                    .map_err(|e| format!("onnxruntime: {e}"))?;
                // Each image's map keeps the batch-1 shape, `[1, C, H, W]`.
                let mut one: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
                if one.first() != Some(&n) {
                    return Err(format!("onnxruntime: the feature map is {one:?} for {n} images"));
                }
                one[0] = 1;
                split_batch(data, n, "the feature map")?
                    .into_iter()
                    .map(|cells| {
                        tract_onnx::prelude::tract_ndarray::ArrayD::from_shape_vec(one.clone(), cells)
                            .map(Some)
                            .map_err(|e| format!("onnxruntime: the feature map: {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => vec![None; n],
        };
        Ok(features
            .into_iter()
            .zip(maps)
            .map(|(features, map)| BackboneRun { features, map })
            .collect())
    }
}

/// `data`, a batch of `n` images' outputs laid end to end, cut into one vector per image.
fn split_batch(data: &[f32], n: usize, what: &str) -> Result<Vec<Vec<f32>>, String> {
    if n == 0 || !data.len().is_multiple_of(n) {
        return Err(format!("onnxruntime: {what} hold {} values for {n} images", data.len()));
    }
    Ok(data.chunks(data.len() / n).map(<[f32]>::to_vec).collect())
}

/// The ONNX model as the backend runs it: its batch axis free (the export pins it to 1; no node
/// of the backbone depends on it: Conv, Clip, Add, GlobalAveragePool, Flatten), so waiting
/// images can run as one batch, and a second output, the input of its global pool (the last
/// feature map), so one run also yields the evidence map. A model without a graph is returned
/// as is; one without a global pool gets no second output.
fn serving_onnx(onnx: &[u8]) -> Result<Vec<u8>, String> {
    let mut model = ModelProto::decode(onnx).map_err(|e| format!("cannot read the ONNX model: {e}"))?;
    let Some(graph) = model.graph.as_mut() else {
        return Ok(onnx.to_vec());
    };
    for value in graph.input.iter_mut().chain(graph.output.iter_mut()) {
        let dims = value.r#type.as_mut().and_then(|t| match t.value.as_mut() {
            Some(type_proto::Value::TensorType(tensor)) => tensor.shape.as_mut(),
            _ => None,
        });
        if let Some(first) = dims.and_then(|shape| shape.dim.first_mut()) {
            first.value = Some(tensor_shape_proto::dimension::Value::DimParam("N".into()));
        }
    }
    // Shapes inferred at export were recorded for batch 1; onnxruntime infers them again.
    graph.value_info.clear();
    let Some(map) = graph
        .node
        .iter()
        .rev()
        .find(|n| n.op_type == "GlobalAveragePool" || n.op_type == "ReduceMean")
        .and_then(|n| n.input.first().cloned())
    else {
        return Ok(onnx.to_vec());
    };
    if !graph.output.iter().any(|o| o.name == map) {
        graph.output.push(ValueInfoProto {
            name: map,
            r#type: Some(TypeProto {
                denotation: String::new(),
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: 1, // float
                    shape: None,
                })),
            }),
            doc_string: String::new(),
        });
    }
    Ok(model.encode_to_vec())
}

/// One session on the model: every graph optimisation, one intra-op and one inter-op thread.
fn session(environment: &Environment, prepacked: &PrepackedWeights, onnx: &[u8]) -> Result<Session, String> {
    Session::builder(environment)
        .and_then(|b| {
            b.with_optimization_level(GraphOptimizationLevel::All)
                .map_err(Into::into)
        })
        .and_then(|b| b.with_intra_threads(1).map_err(Into::into))
        .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
        .and_then(|b| b.with_prepacked_weights(prepacked).map_err(Into::into))
        .and_then(|mut b| b.commit_from_memory(onnx))
        .map_err(|e| format!("onnxruntime cannot load the model: {e}"))
}

//! The onnxruntime backend (cargo feature `onnxruntime`): the `ort` crate with the shared
//! library loaded at run time. One intra-op thread per session, like the serving path's one
//! worker thread per image; sessions are kept in a small pool so each worker thread runs its own
//! (`ort` runs a session through `&mut`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;

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
    environment: &'static Environment,
    onnx: Vec<u8>,
    shape: [usize; 4],
    idle: Mutex<Vec<Session>>,
}

impl OrtBackbone {
    pub(crate) fn load(lib: &Path, onnx: &[u8], shape: [usize; 4]) -> Result<Self, String> {
        let backbone = Self {
            environment: environment(lib)?,
            onnx: onnx.to_vec(),
            shape,
            idle: Mutex::new(Vec::new()),
        };
        let first = backbone.session()?;
        backbone.put_back(first);
        Ok(backbone)
    }

    fn session(&self) -> Result<Session, String> {
        Session::builder(self.environment)
            .and_then(|b| {
                b.with_optimization_level(GraphOptimizationLevel::All)
                    .map_err(Into::into)
            })
            .and_then(|b| b.with_intra_threads(1).map_err(Into::into))
            .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
            .and_then(|mut b| b.commit_from_memory(&self.onnx))
            .map_err(|e| format!("onnxruntime cannot load the model: {e}"))
    }

    fn put_back(&self, session: Session) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(session);
    }

    pub(crate) fn run(&self, input: tract_onnx::prelude::tract_ndarray::Array4<f32>) -> Result<Vec<f32>, String> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut session = match idle {
            Some(session) => session,
            None => self.session()?,
        };
        let (data, _) = input.into_raw_vec_and_offset();
        let result = Tensor::from_array((self.shape, data))
            .map_err(|e| e.to_string())
            .and_then(|tensor| {
                let outputs = session.run(ort::inputs![tensor]).map_err(|e| e.to_string())?;
                let first = outputs.values().next().ok_or("the model has no output")?;
                let (_, features) = first.try_extract_tensor::<f32>().map_err(|e| e.to_string())?;
                Ok(features.to_vec())
            });
        self.put_back(session);
        result.map_err(|e| format!("onnxruntime: {e}"))
    }
}

//! The shipped model: preprocessing and backbone parity with the Python reference (numbers
//! written by training/make_parity_fixtures.py with Pillow + onnxruntime), and real verdicts
//! on the bundled sample photos.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use ispotato_core::image::{ingest_file, IngestLimits};
use ispotato_core::model::depthwise::Isa;
use ispotato_core::model::{
    optimised_backbone, preprocess, tensor_from_crop, Backend, BackendChoice, Classifier, ClassifyError, InputRecipe,
    Kind, Label, Layout,
};
use ispotato_core::serve::InferenceQueue;
use serde_json::Value;

fn card_path() -> PathBuf {
    common::repo_root().join("models/ispotato.json")
}

fn fixtures() -> (PathBuf, Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("parity.json")).unwrap()).unwrap();
    (dir, json)
}

#[test]
fn preprocessing_matches_the_reference_within_1e4() {
    let (dir, json) = fixtures();
    let fixtures = json["fixtures"].as_array().unwrap();
    assert!(fixtures.len() >= 4);
    for f in fixtures {
        let name = f["file"].as_str().unwrap();
        let image = ingest_file(&dir.join(name), &IngestLimits::default()).unwrap();
        let tensor = preprocess(image.rgb(), &InputRecipe::default());
        let flat = tensor.as_slice().unwrap();
        let mut worst = 0f32;
        for pair in f["tensor_samples"].as_array().unwrap() {
            let i = pair[0].as_u64().unwrap() as usize;
            let want = pair[1].as_f64().unwrap() as f32;
            worst = worst.max((flat[i] - want).abs());
        }
        assert!(worst <= 1e-4, "{name}: worst sample difference {worst}");
        let sum: f64 = flat.iter().map(|&v| v as f64).sum();
        let want_sum = f["tensor_sum"].as_f64().unwrap();
        assert!(
            (sum - want_sum).abs() <= 1e-4 * flat.len() as f64,
            "{name}: sum {sum} vs {want_sum}"
        );
    }
}

/// Every backend this build can run here: tract (own depthwise op) and tract-stock always;
/// onnxruntime in a build with the `onnxruntime` feature when ISPOTATO_ONNXRUNTIME_LIB names its
/// library (`.ci/run` sets it).
fn backends() -> Vec<BackendChoice> {
    let mut all = vec![
        BackendChoice::tract(),
        BackendChoice {
            backend: Backend::TractStock,
            onnxruntime_lib: None,
        },
    ];
    if cfg!(feature = "onnxruntime") {
        match std::env::var_os("ISPOTATO_ONNXRUNTIME_LIB") {
            Some(lib) => all.push(BackendChoice {
                backend: Backend::OnnxRuntime,
                onnxruntime_lib: Some(lib.into()),
            }),
            None => eprintln!("onnxruntime backend not tested: ISPOTATO_ONNXRUNTIME_LIB is not set"),
        }
    }
    all
}

#[test]
fn backbone_features_match_onnxruntime_within_1e4_on_every_backend() {
    let (dir, json) = fixtures();
    for backend in backends() {
        let classifier = Classifier::load_on(&card_path(), &backend).expect("model loads");
        for f in json["fixtures"].as_array().unwrap() {
            let name = f["file"].as_str().unwrap();
            let image = ingest_file(&dir.join(name), &IngestLimits::default()).unwrap();
            let features = classifier
                .features(preprocess(image.rgb(), &classifier.card().input))
                .unwrap();
            let want: Vec<f32> = f["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(features.len(), want.len());
            let worst = features
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 1e-4,
                "{} {name}: worst feature difference {worst}",
                backend.backend
            );
        }
    }
}

/// The serving workers call one classifier from a thread per core at once: every backend gives
/// each of them the features one caller alone gets (onnxruntime hands each its own session).
#[test]
fn concurrent_callers_get_the_features_of_a_lone_caller_on_every_backend() {
    let (dir, json) = fixtures();
    let names: Vec<String> = json["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap().to_string())
        .collect();
    for backend in backends() {
        let classifier = Classifier::load_on(&card_path(), &backend).expect("model loads");
        let input = |name: &str| {
            let image = ingest_file(&dir.join(name), &IngestLimits::default()).unwrap();
            preprocess(image.rgb(), &classifier.card().input)
        };
        let alone: Vec<Vec<f32>> = names.iter().map(|n| classifier.features(input(n)).unwrap()).collect();
        std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4)
                .map(|t| {
                    let (classifier, names, alone, input) = (&classifier, &names, &alone, &input);
                    scope.spawn(move || {
                        for round in 0..3 {
                            let i = (t + round) % names.len();
                            let features = classifier.features(input(&names[i])).unwrap();
                            assert_eq!(features, alone[i], "{} thread {t}: {}", backend.backend, names[i]);
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().expect("a caller panicked");
            }
        });
    }
}

/// Waiting images run as one batch where the backend is faster that way (onnxruntime: two at a
/// time; tract: one), and every image gets the verdict and evidence it gets alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_judged_in_batches_with_the_verdicts_of_lone_images_on_every_backend() {
    let (dir, json) = fixtures();
    let files: Vec<Vec<u8>> = json["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .take(4)
        .map(|f| std::fs::read(dir.join(f["file"].as_str().unwrap())).unwrap())
        .collect();
    assert_eq!(files.len(), 4);
    for backend in backends() {
        let classifier = Arc::new(Classifier::load_on(&card_path(), &backend).expect("model loads"));
        let batches = backend.backend == Backend::OnnxRuntime;
        assert_eq!(
            classifier.batch_limit(),
            if batches { 2 } else { 1 },
            "{}",
            backend.backend
        );
        let limits = IngestLimits::default();
        let alone: Vec<_> = files
            .iter()
            .map(|bytes| {
                classifier
                    .classify_seen(&ispotato_core::image::decode(bytes, &limits).unwrap())
                    .unwrap()
            })
            .collect();
        // One worker, held busy while the four images queue up behind it.
        let queue = InferenceQueue::new(classifier.clone(), 1, 8).batching_waiting_images(true);
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let held = queue.take_place().unwrap();
        let blocker = tokio::spawn(held.run(move |_| gate.recv().ok()));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut waiting = Vec::new();
        for bytes in &files {
            let place = queue.take_place().unwrap();
            waiting.push(tokio::spawn(place.decode_and_classify(Arc::new(bytes.clone()), limits)));
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        let mut judged = Vec::new();
        for job in waiting {
            judged.push(job.await.unwrap().expect("judged").0);
        }
        for (i, (seen, lone)) in judged.iter().zip(&alone).enumerate() {
            let (a, b) = (&seen.verdict, &lone.verdict);
            assert!(
                (a.probability - b.probability).abs() <= 1e-4,
                "{} image {i}",
                backend.backend
            );
            assert_eq!(
                (a.label, a.kinds.map(|k| k.best())),
                (b.label, b.kinds.map(|k| k.best()))
            );
            let (e, f) = (seen.evidence.as_ref(), lone.evidence.as_ref());
            assert_eq!(e.is_some(), f.is_some());
            if let (Some(e), Some(f)) = (e, f) {
                assert!((e.logit() - f.logit()).abs() <= 1e-3, "{} image {i}", backend.backend);
            }
            assert_eq!(seen.view, lone.view);
        }
        if batches {
            // Images judged together share one run, so each is charged the same half of it.
            let took = |i: usize| judged[i].verdict.timings.inference;
            assert!(
                took(0) == took(1) && took(2) == took(3),
                "{:?}",
                (0..4).map(took).collect::<Vec<_>>()
            );
        }
        assert_eq!(queue.depth(), 0);
    }
}

/// Serving runs all 16 depthwise layers of EfficientNet-Lite0 on the project's own op, each with
/// its ReLU6 fused (no separate clamp pass left), on the best kernel this CPU has.
#[test]
fn the_serving_graph_runs_every_depthwise_layer_on_the_own_op() {
    let onnx = std::fs::read(common::repo_root().join("models/efficientnet_lite0_features.onnx")).unwrap();
    let count = |layout: Layout, name: &str| {
        let model = optimised_backbone(&onnx, [1, 3, 224, 224], layout).unwrap();
        model.nodes().iter().filter(|n| n.op().name() == name).count()
    };
    assert_eq!(
        count(Layout::ChannelsLast, "DepthWiseConv"),
        16,
        "tract's graph has 16 depthwise layers"
    );
    assert_eq!(count(Layout::ChannelsLastOwnDepthwise, "DepthWiseConv"), 0);
    assert_eq!(count(Layout::ChannelsLastOwnDepthwise, "IsPotatoDepthwise"), 16);
    let model = optimised_backbone(&onnx, [1, 3, 224, 224], Layout::ChannelsLastOwnDepthwise).unwrap();
    for node in model.nodes().iter().filter(|n| n.op().name() == "IsPotatoDepthwise") {
        let info = node.op().info().unwrap().join(" ");
        assert!(info.contains("relu6"), "{}: {info}", node.name);
        assert!(info.contains(Isa::best().name()), "{}: {info}", node.name);
    }
}

#[test]
fn both_backends_give_the_same_verdicts_and_a_reload_keeps_the_backend() {
    let samples = common::repo_root().join("samples");
    let images = ["potatoes_in_store_bin.jpg", "red_peppers.jpg"]
        .map(|f| ingest_file(&samples.join(f), &IngestLimits::default()).unwrap());
    let mut seen = Vec::new();
    for backend in backends() {
        let classifier = Classifier::load_on(&card_path(), &backend).expect("model loads");
        assert_eq!(classifier.backend(), &backend);
        let verdicts: Vec<_> = images.iter().map(|i| classifier.classify(i).unwrap()).collect();
        assert_eq!(verdicts[0].label, Label::Potato, "{}", backend.backend);
        assert_eq!(verdicts[1].label, Label::NotPotato, "{}", backend.backend);
        seen.push(verdicts.iter().map(|v| v.probability).collect::<Vec<_>>());
        let queue = InferenceQueue::new(Arc::new(classifier), 1, 1);
        let reloaded = queue.reload(&card_path()).unwrap();
        assert_eq!(reloaded.backend(), &backend, "a reload stays on its backend");
    }
    for other in &seen[1..] {
        for (a, b) in seen[0].iter().zip(other) {
            assert!((a - b).abs() <= 1e-4, "tract {a} vs {b}");
        }
    }
}

#[test]
fn an_unavailable_onnxruntime_is_refused_with_a_reason() {
    let missing = BackendChoice {
        backend: Backend::OnnxRuntime,
        onnxruntime_lib: Some("/nonexistent/libonnxruntime.so".into()),
    };
    let err = Classifier::load_on(&card_path(), &missing).unwrap_err().to_string();
    if cfg!(feature = "onnxruntime") {
        // Refused before loading, or, once another test loaded the real library, as a second one.
        assert!(
            err.contains("/nonexistent/libonnxruntime.so")
                && (err.contains("does not exist") || err.contains("already")),
            "{err}"
        );
    } else {
        assert!(err.contains("--features onnxruntime"), "{err}");
    }
    let unnamed = BackendChoice {
        backend: Backend::OnnxRuntime,
        onnxruntime_lib: None,
    };
    let err = Classifier::load_on(&card_path(), &unnamed).unwrap_err().to_string();
    assert!(err.contains("onnxruntime"), "{err}");
}

#[test]
fn classifier_is_send_and_sync() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<Classifier>();
    shared::<InferenceQueue>();
}

#[test]
fn sample_photos_get_the_right_verdicts() {
    let classifier = Classifier::load(&card_path()).expect("model loads");
    assert!(!classifier.card().placeholder);
    let samples = common::repo_root().join("samples");
    let potato = ingest_file(&samples.join("potatoes_in_store_bin.jpg"), &IngestLimits::default()).unwrap();
    let peppers = ingest_file(&samples.join("red_peppers.jpg"), &IngestLimits::default()).unwrap();
    let v = classifier.classify(&potato).unwrap();
    assert_eq!(v.label, Label::Potato, "{v:?}");
    assert!(v.probability > 0.8);
    assert_eq!(v.model_version, classifier.card().version);
    assert_eq!(v.kinds.map(|k| k.best()), Some(Kind::Potato), "{v:?}");
    assert_eq!(v.named_kind(), None);
    let v = classifier.classify(&peppers).unwrap();
    assert_eq!(v.label, Label::NotPotato, "{v:?}");
    assert!(v.probability < 0.2);
    assert!(v.timings.inference > std::time::Duration::ZERO);
    assert_eq!(v.kinds.map(|k| k.best()), Some(Kind::Other), "{v:?}");
    assert_eq!(v.named_kind(), None, "peppers are just not a potato");
    let sweet = ingest_file(&samples.join("sweet_potatoes.jpg"), &IngestLimits::default()).unwrap();
    let v = classifier.classify(&sweet).unwrap();
    assert_eq!(v.label, Label::NotPotato, "{v:?}");
    assert_eq!(v.named_kind(), Some(Kind::SweetPotato), "{v:?}");
    assert!(v.kinds.unwrap().probability(Kind::SweetPotato) > 0.8, "{v:?}");
}

#[test]
fn a_card_that_does_not_match_its_model_is_refused() {
    let dir = tempdir();
    let mut card: Value = serde_json::from_str(&std::fs::read_to_string(card_path()).unwrap()).unwrap();
    std::fs::copy(
        common::repo_root()
            .join("models")
            .join(card["backbone"]["file"].as_str().unwrap()),
        dir.join(card["backbone"]["file"].as_str().unwrap()),
    )
    .unwrap();
    card["backbone"]["sha256"] = Value::String("00".repeat(32));
    std::fs::write(dir.join("ispotato.json"), card.to_string()).unwrap();
    let err = Classifier::load(&dir.join("ispotato.json")).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");

    card["backbone"]["sha256"] = Value::Null;
    card["thresholds"]["lower"] = Value::from(0.9);
    card["thresholds"]["upper"] = Value::from(0.1);
    std::fs::write(dir.join("ispotato.json"), card.to_string()).unwrap();
    let err = Classifier::load(&dir.join("ispotato.json")).unwrap_err();
    assert!(err.to_string().contains("thresholds"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_full_queue_answers_busy_instead_of_queueing() {
    let classifier = Arc::new(Classifier::load(&card_path()).expect("model loads"));
    let queue = InferenceQueue::new(classifier, 1, 2);
    let image = ingest_file(
        &common::repo_root().join("samples/red_peppers.jpg"),
        &IngestLimits::default(),
    )
    .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (q, img) = (queue.clone(), image.clone());
            tokio::spawn(async move {
                let place = q.take_place()?;
                place.run(move |c| c.classify(&img)).await?
            })
        })
        .collect();
    let mut ok = 0;
    let mut busy = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(ClassifyError::Busy) => busy += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(ok >= 2, "admitted work finishes ({ok})");
    assert!(busy >= 1, "excess work is refused ({busy})");
    assert_eq!(ok + busy, 8);
    assert_eq!(queue.depth(), 0);
}

#[tokio::test]
async fn a_full_queue_refuses_before_downloading() {
    use ispotato_core::image::FetchConfig;
    use ispotato_core::image::Ingestor;
    use ispotato_core::image::LoopbackPolicy;
    use ispotato_core::serve::{ImageInput, Judge};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // A server that counts requests and answers with the sample photo.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/peppers.jpg", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let body = std::fs::read(common::repo_root().join("samples/red_peppers.jpg")).unwrap();
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: image/jpeg\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
            });
        }
    });
    let fetch = FetchConfig {
        loopback: LoopbackPolicy::Allow,
        ..FetchConfig::default()
    };
    let classifier = Arc::new(Classifier::load(&card_path()).unwrap());
    let judge = Judge::new(
        Ingestor::new(IngestLimits::default(), fetch).unwrap(),
        InferenceQueue::new(classifier, 1, 1),
    );

    let held = judge.queue().take_place().expect("the only place");
    let refused = judge.judge(ImageInput::url(url.clone())).await;
    assert!(matches!(&refused, Err(r) if r.reason() == "busy"), "{refused:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a refused image is not downloaded");

    drop(held);
    let judged = judge.judge(ImageInput::url(url.clone())).await.unwrap();
    assert_eq!(judged.verdict.label, Label::NotPotato);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(judge.queue().depth(), 0, "the place is given back");
}

#[tokio::test]
async fn a_cancelled_request_keeps_its_place_until_its_job_has_run() {
    let classifier = Arc::new(Classifier::load(&card_path()).unwrap());
    let queue = InferenceQueue::new(classifier, 1, 1);
    let place = queue.take_place().unwrap();
    let job = place.run(|_| std::thread::sleep(std::time::Duration::from_millis(300)));
    // The caller gives up long before the job is done.
    assert!(tokio::time::timeout(std::time::Duration::from_millis(20), job)
        .await
        .is_err());
    assert!(
        matches!(queue.take_place(), Err(ClassifyError::Busy)),
        "the job still runs, so its place is still taken"
    );
    assert_eq!(queue.depth(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(queue.depth(), 0, "the place is given back once the job has run");
    assert!(queue.take_place().is_ok());
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ispotato-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_model_reload_swaps_atomically_and_a_broken_one_is_refused() {
    let dir = tempdir().join("reload");
    std::fs::create_dir_all(&dir).unwrap();
    let mut card: Value = serde_json::from_str(&std::fs::read_to_string(card_path()).unwrap()).unwrap();
    let onnx = card["backbone"]["file"].as_str().unwrap().to_string();
    std::fs::copy(common::repo_root().join("models").join(&onnx), dir.join(&onnx)).unwrap();
    let queue = InferenceQueue::new(Arc::new(Classifier::load(&card_path()).unwrap()), 1, 4);
    let shipped = card["version"].as_str().unwrap().to_string();
    assert_eq!(queue.classifier().card().version, shipped);

    card["version"] = Value::String("0.1.0-reloaded".into());
    std::fs::write(dir.join("ispotato.json"), card.to_string()).unwrap();
    let fresh = queue.reload(&dir.join("ispotato.json")).unwrap();
    assert_eq!(fresh.card().version, "0.1.0-reloaded");
    assert_eq!(queue.classifier().card().version, "0.1.0-reloaded");

    std::fs::write(dir.join("ispotato.json"), "{ not json").unwrap();
    assert!(queue.reload(&dir.join("ispotato.json")).is_err());
    assert_eq!(
        queue.classifier().card().version,
        "0.1.0-reloaded",
        "the old model keeps serving"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_blank_image_is_never_a_potato() {
    let classifier = Classifier::load(&card_path()).unwrap();
    let white = image::RgbImage::from_pixel(640, 480, image::Rgb([255, 255, 255]));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    white.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let image = ispotato_core::image::decode(&jpeg.into_inner(), &IngestLimits::default()).unwrap();
    let verdict = classifier.classify(&image).unwrap();
    assert!(verdict.blank);
    assert_eq!(verdict.label, Label::Unsure, "P(potato) {}", verdict.probability);
    let photo = ingest_file(
        &common::repo_root().join("samples/red_peppers.jpg"),
        &IngestLimits::default(),
    )
    .unwrap();
    let verdict = classifier.classify(&photo).unwrap();
    assert!(!verdict.blank);
    assert_eq!(verdict.label, Label::NotPotato);
}

/// A sample photo decoded as the ingest path decodes it, squashed to `size x size`.
fn sample_square(name: &str, size: u32) -> image::RgbImage {
    let image = ingest_file(
        &common::repo_root().join("samples").join(name),
        &IngestLimits::default(),
    )
    .unwrap();
    image::imageops::resize(image.rgb(), size, size, image::imageops::FilterType::Triangle)
}

/// The heatmap points at the potato: potatoes pasted into one corner of a photo of peppers
/// (what the model sees, 224x224), the evidence peaks in that corner, for each corner; and
/// the map's mean plus the bias is the classifier's own logit for the same view.
#[test]
fn the_evidence_peaks_in_the_corner_where_potatoes_are_pasted() {
    for choice in backends() {
        evidence_peaks_where_the_potatoes_are(&Classifier::load_on(&card_path(), &choice).unwrap());
    }
}

fn evidence_peaks_where_the_potatoes_are(classifier: &Classifier) {
    let evidence_of = |view: &image::RgbImage| classifier.look_at(view).unwrap().1.expect("an evidence map");
    let scene = sample_square("red_peppers.jpg", 224);
    let potatoes = sample_square("potatoes_in_store_bin.jpg", 96);
    let plain = evidence_of(&scene);
    assert!(
        plain.logit() < 0.0,
        "the peppers alone lean 'not potato': {}",
        plain.logit()
    );
    for (top, left) in [(true, true), (true, false), (false, true), (false, false)] {
        let mut view = scene.clone();
        let (x, y) = (if left { 0 } else { 128 }, if top { 0 } else { 128 });
        image::imageops::replace(&mut view, &potatoes, x, y);
        let evidence = evidence_of(&view);
        assert_eq!((evidence.rows, evidence.cols), (7, 7));
        let (row, col) = evidence.peak();
        // The potatoes cover cells 0..3.4 (or 3.6..7) of 7 along each axis.
        let near = |cell: usize, low: bool| if low { cell <= 3 } else { cell >= 3 };
        assert!(
            near(row, top) && near(col, left),
            "potatoes at top={top} left={left}, but the evidence peaks at row {row} col {col}: {:?}",
            evidence.cells
        );
        assert!(evidence.logit() > plain.logit(), "the potatoes add evidence");
        let features = classifier
            .features(tensor_from_crop(&view, &classifier.card().input))
            .unwrap();
        let logit = classifier.card().head.logit(&features);
        assert!(
            (evidence.logit() - logit).abs() < 1e-3,
            "map {} against classifier {logit} ({:?})",
            evidence.logit(),
            classifier.backend().backend
        );
        let overlay = evidence.overlay(&view);
        assert_eq!(overlay.dimensions(), (224, 224));
        assert_ne!(overlay, view, "the overlay shows the evidence");
    }
}

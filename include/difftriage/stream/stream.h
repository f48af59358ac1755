/// difftriage::stream — triage frames as they come: sources → decode + preprocess workers →
/// bounded queue → batched inference → fail-open decision → sinks. This header includes the
/// whole module (no LibTorch):
///
///   #include "difftriage/stream/stream.h"
///   namespace st = difftriage::stream;
///
///   auto frames = st::expand_inputs({"run7/", "@more.lst", "stack_master.h5"});
///   auto model = st::resolve_model_path(user_model);              // "" → models/default
///   auto clf = std::make_shared<const difftriage::models::Classifier>(
///       difftriage::models::Classifier::load(model));
///   st::TriageOptions options;                                   // threads, batch, queue
///   st::TriageFolderWriter writer("cls", clf->metadata(), {model.string(), options});
///   auto stats = st::run_triage(frames, clf, options,
///                               [&](const st::FrameResult& r) { writer.add(r); });
///   writer.finish(stats);   // cls/{results.jsonl, hits.lst, summary.json}
///
/// Files: frame_address.h (`path //N`), sources.h (inputs → frames), pipeline.h (threads,
/// batching, order), triage.h (keep/veto, the results.jsonl row), sinks.h (output folder),
/// default_model.h (where the shipped model is found), watch.h (watched folders).
#pragma once

#include "difftriage/models/classifier.h"
#include "difftriage/stream/default_model.h"
#include "difftriage/stream/frame_address.h"
#include "difftriage/stream/pipeline.h"
#include "difftriage/stream/sinks.h"
#include "difftriage/stream/sources.h"
#include "difftriage/stream/triage.h"
#include "difftriage/stream/watch.h"

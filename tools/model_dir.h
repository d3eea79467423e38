// A trained model directory (DESIGN.md "Model directory"), loaded for inference:
// config.yaml, model.safetensors, the vocabularies and, for classifiers, labels.txt.
//
//   LoadedModel m = load_model_dir("runs/demo");
//   Seq2Seq& s2s = m.model->as<Seq2Seq>();
//   std::vector<int32_t> ids = m.vocabs.source.encode("Ein Hund läuft.");
//
// The model is in eval mode. Every missing or mismatching file is an error naming it.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "data/corpus.h"
#include "data/tokenizer.h"
#include "models/model.h"
#include "tools/config.h"

namespace attend {

struct LoadedModel {
  std::string dir;
  Config config;                 // as the run resolved it
  std::unique_ptr<Model> model;  // weights from model.safetensors (or `weights`)
  data::Vocabularies vocabs;
  data::LabelMap labels;         // classifiers only
  std::map<std::string, std::string> metadata;  // of the weights file
};

// weights: a .safetensors file to use instead of DIR/model.safetensors (e.g. a checkpoint's).
LoadedModel load_model_dir(const std::string& dir, const std::string& weights = "");

}  // namespace attend

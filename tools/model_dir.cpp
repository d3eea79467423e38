#include "tools/model_dir.h"

#include <filesystem>

#include "data/files.h"
#include "layers/weights.h"

namespace attend {

LoadedModel load_model_dir(const std::string& dir, const std::string& weights) {
  CHECK(std::filesystem::is_directory(dir), "model directory {} does not exist", dir);
  const std::string config_path = dir + "/config.yaml";
  CHECK_HINT(data::file_exists(config_path), "train a model with `attend train CONFIG` first",
             "{} is not a model directory: {} is missing", dir, config_path);
  LoadedModel m;
  m.dir = dir;
  m.config = load_config(config_path);
  m.vocabs = data::load_vocabularies(dir);
  if (m.config.model.type == "classifier") m.labels = data::LabelMap::load(dir + "/labels.txt");
  const std::string weights_path = weights.empty() ? dir + "/model.safetensors" : weights;
  CHECK(data::file_exists(weights_path), "{} is missing: training has not validated yet", weights_path);
  m.model = make_model(m.config.model, uint64_t(m.config.train.seed));
  m.metadata = load_weights(*m.model, weights_path);
  m.model->eval();
  CHECK(m.vocabs.source.vocab_size() == m.config.model.src_vocab,
        "{}: the source vocabulary has {} pieces but model.src_vocab is {}", dir, m.vocabs.source.vocab_size(),
        m.config.model.src_vocab);
  return m;
}

}  // namespace attend

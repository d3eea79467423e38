#include "tools/average.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "core/safetensors.h"
#include "data/files.h"
#include "tools/model_dir.h"

namespace fs = std::filesystem;

namespace attend {
namespace {

std::string weights_file(const std::string& checkpoint) {
  if (fs::is_directory(checkpoint)) {
    const std::string path = (fs::path(checkpoint) / "model.safetensors").string();
    CHECK(data::file_exists(path), "{} is not a checkpoint: {} is missing", checkpoint, path);
    return path;
  }
  CHECK(data::file_exists(checkpoint), "checkpoint {} does not exist", checkpoint);
  return checkpoint;
}

}  // namespace

std::string model_dir_of(const std::string& checkpoint) {
  fs::path p = fs::absolute(checkpoint).lexically_normal();
  if (!fs::is_directory(p)) p = p.parent_path();
  if (p.has_filename() && p.parent_path().filename() == "checkpoints") return p.parent_path().parent_path().string();
  CHECK_HINT(data::file_exists((p / "config.yaml").string()),
             "give checkpoint folders DIR/checkpoints/step-N of a trained model",
             "cannot find the model directory of {}: neither DIR/checkpoints/step-N nor a folder with config.yaml",
             checkpoint);
  return p.string();
}

void average_checkpoints(const std::vector<std::string>& checkpoints, const std::string& out_dir,
                         const AverageOptions& options) {
  CHECK(!checkpoints.empty(), "average: no checkpoint given");
  const std::string source_dir = model_dir_of(checkpoints[0]);
  const std::string out_weights = (fs::path(out_dir) / "model.safetensors").string();
  CHECK_HINT(options.overwrite || !data::file_exists(out_weights), "choose another --out, or pass --force",
             "average: {} already exists", out_weights);

  // Sum in double, file by file (one file in memory at a time besides the sums).
  std::vector<std::string> names;
  std::vector<Shape> shapes;
  std::vector<std::vector<double>> sums;
  std::string sources;
  for (size_t k = 0; k < checkpoints.size(); ++k) {
    const std::string path = weights_file(checkpoints[k]);
    const SafetensorsFile f = load_safetensors(path);
    if (k == 0) {
      names = f.names;
      for (const std::string& n : names) {
        shapes.push_back(f.at(n).shape());
        sums.emplace_back(size_t(f.at(n).numel()), 0.0);
      }
    }
    CHECK(f.names.size() == names.size(), "average: {} holds {} tensors but {} holds {}", path, f.names.size(),
          weights_file(checkpoints[0]), names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      CHECK(f.contains(names[i]), "average: {} has no tensor '{}' (which {} has)", path, names[i],
            weights_file(checkpoints[0]));
      const Tensor& t = f.at(names[i]);
      CHECK(t.dtype() == DType::f32 && t.shape() == shapes[i], "average: tensor '{}' is {} in {} but f32{} in {}",
            names[i], t.str(), path, shape_str(shapes[i]), weights_file(checkpoints[0]));
      const float* p = t.data();
      std::vector<double>& s = sums[i];
      for (size_t j = 0; j < s.size(); ++j) s[j] += double(p[j]);
    }
    const fs::path given = fs::path(checkpoints[k]).lexically_normal();
    const std::string name = fs::is_directory(given) ? given.filename().string() : given.string();
    sources += (k ? "," : "") + (name.empty() ? given.parent_path().filename().string() : name);
  }
  std::vector<std::pair<std::string, Tensor>> tensors;
  const double n = double(checkpoints.size());
  for (size_t i = 0; i < names.size(); ++i) {
    Tensor t = Tensor::empty(shapes[i]);
    float* p = t.data();
    for (size_t j = 0; j < sums[i].size(); ++j) p[j] = float(sums[i][j] / n);
    tensors.emplace_back(names[i], t);
  }

  data::make_directories(out_dir);
  if (!fs::equivalent(fs::path(source_dir), fs::path(out_dir))) {
    for (const char* file : {"config.yaml", "vocab.spm", "source.spm", "target.spm", "labels.txt"}) {
      const std::string from = (fs::path(source_dir) / file).string();
      if (data::file_exists(from)) data::write_file_atomic((fs::path(out_dir) / file).string(), data::read_file(from));
    }
  }
  save_safetensors(out_weights, tensors, {{"averaged_from", sources}, {"averaged_count", std::to_string(checkpoints.size())}});
  load_model_dir(out_dir);  // the result must be a usable model directory
  spdlog::info("averaged {} checkpoints of {} into {}", checkpoints.size(), source_dir, out_weights);
}

}  // namespace attend

// --- attend average -------------------------------------------------------------------
#include "tools/cli.h"

namespace attend {

Command add_average_command(CLI::App& app) {
  struct Args {
    std::string out;
    std::vector<std::string> checkpoints;
    AverageOptions options;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("average", "average the weights of checkpoints into a new model directory");
  cmd->add_option("--out", args->out, "the model directory to write")->required();
  cmd->add_option("checkpoints", args->checkpoints, "checkpoint folders (DIR/checkpoints/step-N) or .safetensors files")
      ->required()
      ->expected(1, -1);
  cmd->add_flag("--force", args->options.overwrite, "replace an existing OUT/model.safetensors");
  return {cmd, [args] {
            average_checkpoints(args->checkpoints, args->out, args->options);
            return 0;
          }};
}

}  // namespace attend

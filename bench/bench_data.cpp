// Data pipeline speed on the shared data: reading, vocabulary training, tokenization of
// the whole Multi30k train set (29k pairs, both sides) and SST-2 train (67k rows), and
// batching a Multi30k epoch. Figures go to docs/benchmarks.md (see docs/benchmarks-data.md).
//
//   build/bench/bench_data --benchmark_filter=Tokenize
#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "data/batcher.h"
#include "data/corpus.h"
#include "data/dataset.h"
#include "data/files.h"
#include "data/tokenizer.h"

using namespace attend::data;

namespace {

std::string shared(const std::string& relative) {
  return (std::filesystem::path(data_root()) / relative).string();
}

bool have_data(benchmark::State& state) {
  for (const char* f : {"multi30k/train.de.gz", "multi30k/train.en.gz", "sst2/train.tsv"}) {
    if (!file_exists(shared(f))) {
      state.SkipWithError(("shared data missing: " + shared(f) + " (set ATTEND_DATA)").c_str());
      return false;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  return true;
}

const ParallelCorpus& multi30k() {
  static const ParallelCorpus c = read_parallel(shared("multi30k/train.de.gz"), shared("multi30k/train.en.gz"));
  return c;
}

const LabelledCorpus& sst2() {
  static const LabelledCorpus c = read_labelled(shared("sst2/train.tsv"));
  return c;
}

VocabOptions vocab8000() {
  VocabOptions o;
  o.size = 8000;
  return o;
}

const Tokenizer& multi30k_vocab() {
  static const Tokenizer t = Tokenizer::train({multi30k().source, multi30k().target}, vocab8000(), "");
  return t;
}

const Tokenizer& sst2_vocab() {
  static const Tokenizer t = Tokenizer::train({sst2().text}, vocab8000(), "");
  return t;
}

void BM_ReadMulti30kTrain(benchmark::State& state) {
  if (!have_data(state)) return;
  for (auto _ : state) {
    ParallelCorpus c = read_parallel(shared("multi30k/train.de.gz"), shared("multi30k/train.en.gz"));
    benchmark::DoNotOptimize(c.source.data());
  }
  state.SetItemsProcessed(state.iterations() * 58000);
}
BENCHMARK(BM_ReadMulti30kTrain)->Unit(benchmark::kMillisecond);

void BM_TrainVocabMulti30k(benchmark::State& state) {
  if (!have_data(state)) return;
  for (auto _ : state) {
    Tokenizer t = Tokenizer::train({multi30k().source, multi30k().target}, vocab8000(), "");
    benchmark::DoNotOptimize(t.vocab_size());
  }
}
BENCHMARK(BM_TrainVocabMulti30k)->Unit(benchmark::kSecond)->Iterations(1);

void BM_TrainVocabSst2(benchmark::State& state) {
  if (!have_data(state)) return;
  for (auto _ : state) {
    Tokenizer t = Tokenizer::train({sst2().text}, vocab8000(), "");
    benchmark::DoNotOptimize(t.vocab_size());
  }
}
BENCHMARK(BM_TrainVocabSst2)->Unit(benchmark::kSecond)->Iterations(1);

// Whole train set, both sides, into a filtered Dataset (what training does).
void BM_TokenizeMulti30kTrain(benchmark::State& state) {
  if (!have_data(state)) return;
  const Tokenizer& tok = multi30k_vocab();
  DatasetOptions o{.max_length = 128, .threads = int(state.range(0))};
  for (auto _ : state) {
    Dataset d = make_translation_dataset(multi30k(), tok, tok, o, "train");
    benchmark::DoNotOptimize(d.examples.data());
  }
  state.SetItemsProcessed(state.iterations() * 58000);  // sentences
}
BENCHMARK(BM_TokenizeMulti30kTrain)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_TokenizeSst2Train(benchmark::State& state) {
  if (!have_data(state)) return;
  const Tokenizer& tok = sst2_vocab();
  LabelMap labels = LabelMap::from_labels(sst2().labels);
  DatasetOptions o{.max_length = 128, .threads = int(state.range(0))};
  for (auto _ : state) {
    Dataset d = make_classification_dataset(sst2(), tok, &labels, o, "train");
    benchmark::DoNotOptimize(d.examples.data());
  }
  state.SetItemsProcessed(state.iterations() * int64_t(sst2().text.size()));
}
BENCHMARK(BM_TokenizeSst2Train)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// One epoch of Multi30k batches (4096-token budget), with or without bucketing;
// reports the padding ratio.
void BM_BatchMulti30kEpoch(benchmark::State& state) {
  if (!have_data(state)) return;
  static const auto data = std::make_shared<Dataset>(
      make_translation_dataset(multi30k(), multi30k_vocab(), multi30k_vocab(), {.max_length = 128}, "train"));
  BatchOptions o;
  o.bucket = state.range(0) != 0;
  o.prefetch = 0;
  Batcher batcher(data, o);
  int64_t epoch = 0, batches = 0;
  for (auto _ : state) {
    for (const auto& rows : batcher.plan(epoch)) {
      Batch b = batcher.make_batch(rows);
      benchmark::DoNotOptimize(b.src.raw_data());
      ++batches;
    }
    ++epoch;
  }
  state.counters["padding_%"] = 100.0 * batcher.stats(batcher.plan(0)).padding_ratio();
  state.counters["batches/epoch"] = double(batches) / double(epoch);
}
BENCHMARK(BM_BatchMulti30kEpoch)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

}  // namespace


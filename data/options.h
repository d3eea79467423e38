// Plain option structs for the data side of a run: vocabulary, corpora, filtering and
// batching. The config layer (tools/) fills them from the YAML `data:` section and
// `train.max_tokens` / `train.seed`; nothing in data/ reads YAML. Every field has an
// in-class default and a comment; docs/data.md shows the matching YAML.
//
//   VocabOptions vocab;  vocab.size = 8000;  vocab.shared = true;
//   BatchOptions batch;  batch.max_tokens = 4096;  batch.seed = 1;
#pragma once

#include <cstdint>
#include <string>

namespace attend::data {

// SentencePiece vocabulary: trained from the training corpus when its file is missing.
struct VocabOptions {
  int size = 8000;                   // number of pieces, including the 4 special ids
  std::string type = "unigram";      // "unigram" or "bpe"
  bool shared = true;                // one vocab for source and target (vocab.spm) or two
                                     // (source.spm, target.spm)
  float character_coverage = 1.0f;   // share of characters covered; rarer ones become <unk>
  int64_t sample_sentences = 1000000;  // train on a random sample of at most this many
                                       // sentences (keeps training fast on big corpora); 0 = all
  std::string normalization = "nmt_nfkc";  // SentencePiece normalization rule:
                                           // nmt_nfkc, nfkc, nmt_nfkc_cf, nfkc_cf, identity
  bool byte_fallback = false;        // unknown characters become UTF-8 byte pieces, not <unk>
  uint32_t seed = 1;                 // seed of the sentence sample
  int threads = 0;                   // training threads; 0 = all cores
  // Vocabulary files to reuse (or train into when missing). Empty = in the model
  // directory: vocab.spm when shared, else source.spm and target.spm. A file outside
  // the model directory is also copied into it, so the model directory stands alone.
  std::string file;                  // shared vocabulary
  std::string source_file;           // separate vocabularies
  std::string target_file;
};

// A delimited text table with a header line (SST-2 style `sentence<TAB>label`).
struct TableOptions {
  std::string text_column = "sentence";  // column holding the text
  std::string label_column = "label";    // column holding the label; empty = no labels
  char delimiter = 0;  // 0 = from the name: ',' for .csv / .csv.gz, else '\t'
  bool quoting = true;  // a field starting with '"' is quoted: may hold delimiters and
                        // newlines, "" is a literal quote (RFC 4180)
};

// How corpus lines become examples.
struct DatasetOptions {
  int64_t max_length = 0;   // skip examples with more pieces than this on either side
                            // (specials not counted); 0 = no limit
  bool skip_empty = true;   // skip examples whose source or target line is empty
  int threads = 0;          // tokenization threads; 0 = all cores
};

// How examples become batches. The budget counts padded cells: a batch of B rows whose
// longest source row is S and longest target row is T costs B * max(S, T) (source rows
// include </s>, target rows <s> or </s>), and must not exceed max_tokens. An example
// whose single row already exceeds the budget gets a batch of its own (logged).
struct BatchOptions {
  int64_t max_tokens = 4096;  // token budget per batch (padded size, see above)
  int64_t max_sentences = 0;  // at most this many rows per batch; 0 = no cap
  bool shuffle = true;        // new example tie-break and batch order each epoch
  bool bucket = true;         // sort by length before packing, so padding stays small
  uint64_t seed = 1;          // shuffling seed; epoch e uses (seed, e)
  bool source_bos = false;    // prepend <s> to every source row
  bool source_eos = true;     // append </s> to every source row
  int prefetch = 2;           // batches prepared ahead by a background thread; 0 = none
};

// Where the data of a run comes from (translation: source + target; classification:
// table). Relative paths are resolved by the config layer before they arrive here.
struct CorpusPaths {
  std::string source;  // translation: one sentence per line, plain or .gz
  std::string target;
  std::string table;   // classification: TSV/CSV with a header
};

struct DataOptions {
  CorpusPaths train;
  CorpusPaths valid;
  VocabOptions vocab;
  TableOptions table;
  int64_t max_length = 128;  // training examples longer than this are skipped
};

}  // namespace attend::data

// The oneDNN gemm backend: one matmul primitive per distinct call shape.
//
// Transposes and leading dimensions become strides of the memory descriptors, so no
// operand is copied; a batch stride of 0 becomes a broadcast batch dim of 1. alpha is
// a run-time output scale (one primitive serves every alpha), beta a sum post-op.
// Primitives live in an LRU cache keyed by everything that shapes them, so a training
// step that repeats its shapes never creates one twice. oneDNN runs on the OpenMP
// runtime, so omp_set_num_threads (core/threads.h) governs it.
// Products shaped as training's backward ones (B not transposed: dx = dy w and
// dw = dy^T x) run on oneDNN's BLAS-style jit gemm instead (onednn_kernel, core/gemm.h):
// fp32 ones with each dimension at least 512 (~3% less time in the products of a base
// training step), bf16 ones all (~4% less time in a whole base bf16 step, alternating runs).
// Weights that stay constant (decoding) can be packed once into the layout oneDNN's
// matmul prefers (pack_weight), which saves the copy its kernels make of a plain weight
// on every call (1.2-1.4x on decoding products of 32 rows, fp32 and bf16).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>

#include <dnnl.hpp>
#include <omp.h>

#include "core/error.h"
#include "core/gemm.h"
#include "core/gemm_bf16.h"

// oneDNN's bf16 gemm: row-major with BLAS arguments like dnnl_sgemm, exported by libdnnl
// (2.x) but declared only in its own tests, so declared here; CMakeLists.txt checks that
// the library has it. bf16 operands (oneDNN's bfloat16_t: the 16 bits), f32 C.
extern "C" dnnl_status_t dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K,
                                               float alpha, const uint16_t* A, dnnl_dim_t lda, const uint16_t* B,
                                               dnnl_dim_t ldb, float beta, float* C, dnnl_dim_t ldc);

namespace attend::detail {
namespace {

using dims = dnnl::memory::dims;
using dt = dnnl::memory::data_type;

struct Key {
  int64_t M, N, K, batch, lda, ldb, ldc, stride_a, stride_b, stride_c;
  int32_t trans_a, trans_b, scaled;  // scaled: alpha != 1 (run-time scale)
  uint32_t beta_bits;
  int32_t threads;  // a primitive may size its work split by the thread count at creation
  int32_t bf16;     // A and B are bf16 (C f32 unless c_bf16)
  // gemm_linear's and gemm_bf16_linear's epilogue: a bias argument, relu, C in bf16;
  // `unused` keeps the key free of padding (it is hashed and compared bytewise)
  int32_t bias, relu, c_bf16, unused;
  bool operator==(const Key& o) const { return std::memcmp(this, &o, sizeof(Key)) == 0; }
};

static_assert(sizeof(Key) == 10 * sizeof(int64_t) + 10 * sizeof(int32_t));

struct KeyHash {
  size_t operator()(const Key& k) const {
    const auto* p = reinterpret_cast<const unsigned char*>(&k);
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the bytes
    for (size_t i = 0; i < sizeof(Key); ++i) h = (h ^ p[i]) * 1099511628211ull;
    return size_t(h);
  }
};

// Memory descriptor of a (batch of) row-major rows x cols matrix stored with leading
// dimension ld, or its transpose when `trans` (stored cols x rows).
dnnl::memory::desc matrix_desc(int64_t batch, int64_t rows, int64_t cols, bool trans, int64_t ld, int64_t stride,
                               dt type = dt::f32) {
  const int64_t rs = trans ? 1 : ld, cs = trans ? ld : 1;
  if (batch == 1) return dnnl::memory::desc(dims{rows, cols}, type, dims{rs, cs});
  if (stride == 0) return dnnl::memory::desc(dims{1, rows, cols}, type, dims{rows * cols, rs, cs});
  return dnnl::memory::desc(dims{batch, rows, cols}, type, dims{stride, rs, cs});
}

// A bias: (N) added to every row of an (M,N) result.
dnnl::memory::desc bias_desc(int64_t N) { return dnnl::memory::desc(dims{1, N}, dt::f32, dims{N, 1}); }

struct Entry {
  dnnl::matmul prim;
  dnnl::memory::desc a, b, c;
};

class MatmulCache {
 public:
  static constexpr size_t kCapacity = 512;

  MatmulCache() : engine_(dnnl::engine::kind::cpu, 0) {}

  const dnnl::engine& engine() const { return engine_; }

  int64_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return int64_t(lru_.size());
  }

  // The primitive for `key` with its descriptors, created on first use.
  Entry get(const Key& k, float beta) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(k);
    if (it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
    const dt in_type = k.bf16 ? dt::bf16 : dt::f32;
    dnnl::memory::desc a = matrix_desc(k.batch, k.M, k.K, k.trans_a, k.lda, k.stride_a, in_type);
    dnnl::memory::desc b = matrix_desc(k.batch, k.K, k.N, k.trans_b, k.ldb, k.stride_b, in_type);
    dnnl::memory::desc c = matrix_desc(k.batch, k.M, k.N, false, k.ldc, k.stride_c, k.c_bf16 ? dt::bf16 : dt::f32);
    dnnl::primitive_attr attr;
    if (k.scaled) attr.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
    dnnl::post_ops ops;
    if (beta != 0.0f) ops.append_sum(beta);
    if (k.relu) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
    dnnl::matmul prim;
    try {
      const auto desc = k.bias ? dnnl::matmul::desc(a, b, bias_desc(k.N), c) : dnnl::matmul::desc(a, b, c);
      prim = dnnl::matmul(dnnl::matmul::primitive_desc(desc, attr, engine_));
    } catch (const dnnl::error& e) {
      ATTEND_ERROR("gemm (onednn{}): no matmul for M={} N={} K={} batch={} lda={} ldb={} ldc={} strides ({}, {}, {}) "
                   "trans ({}, {}): {}",
                   k.bf16 ? ", bf16" : "", k.M, k.N, k.K, k.batch, k.lda, k.ldb, k.ldc, k.stride_a, k.stride_b,
                   k.stride_c, k.trans_a, k.trans_b, e.what());
    }
    lru_.emplace_front(k, Entry{prim, a, b, c});
    index_[k] = lru_.begin();
    if (lru_.size() > kCapacity) {
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
    return lru_.front().second;
  }

 private:
  dnnl::engine engine_;
  std::mutex mutex_;
  std::list<std::pair<Key, Entry>> lru_;  // most recently used first
  std::unordered_map<Key, std::list<std::pair<Key, Entry>>::iterator, KeyHash> index_;
};

MatmulCache& cache() {
  static MatmulCache instance;
  return instance;
}

}  // namespace

int64_t onednn_cached_primitives() { return cache().size(); }

namespace {

// A and B are f32, or bf16 when `bf16`; C is f32.
void gemm_onednn_typed(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void* A,
                       int64_t lda, int64_t stride_a, const void* B, int64_t ldb, int64_t stride_b, float beta,
                       float* C, int64_t ldc, int64_t stride_c, int64_t batch, bool bf16) {
  if (batch > 1 && stride_a == 0 && stride_b == 0) {  // oneDNN cannot broadcast both operands
    for (int64_t i = 0; i < batch; ++i)
      gemm_onednn_typed(trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C + i * stride_c, ldc, 0, 1,
                        bf16);
    return;
  }
  Key key{};
  key.M = M, key.N = N, key.K = K, key.batch = batch, key.lda = lda, key.ldb = ldb, key.ldc = ldc;
  if (batch > 1) key.stride_a = stride_a, key.stride_b = stride_b, key.stride_c = stride_c;
  key.trans_a = trans_a, key.trans_b = trans_b, key.scaled = alpha != 1.0f;
  std::memcpy(&key.beta_bits, &beta, sizeof(float));
  key.threads = omp_get_max_threads();
  key.bf16 = bf16;

  MatmulCache& c = cache();
  const Entry e = c.get(key, beta);
  dnnl::memory a_mem(e.a, c.engine(), const_cast<void*>(A));
  dnnl::memory b_mem(e.b, c.engine(), const_cast<void*>(B));
  dnnl::memory c_mem(e.c, c.engine(), C);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}};
  if (key.scaled)
    args.emplace(DNNL_ARG_ATTR_OUTPUT_SCALES,
                 dnnl::memory(dnnl::memory::desc(dims{1}, dt::f32, dims{1}), c.engine(), &alpha));
  thread_local dnnl::stream stream(c.engine());
  e.prim.execute(stream, args);
  stream.wait();
}

std::atomic<int> g_kernel{int(OneDnnKernel::automatic)};

dnnl_status_t jit_gemm(char ta, char tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                       const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  return dnnl_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

dnnl_status_t jit_gemm(char ta, char tb, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A, int64_t lda,
                       const bf16* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  static_assert(sizeof(bf16) == sizeof(uint16_t));
  return dnnl_gemm_bf16bf16f32(ta, tb, M, N, K, alpha, reinterpret_cast<const uint16_t*>(A), lda,
                               reinterpret_cast<const uint16_t*>(B), ldb, beta, C, ldc);
}

// oneDNN's jit gemm (row-major, BLAS arguments) on each product of the batch. False, with
// nothing written, when oneDNN has no such gemm for this CPU (bf16 without AVX-512).
template <typename T>
bool jit_gemm_batch(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const T* A, int64_t lda,
                    int64_t stride_a, const T* B, int64_t ldb, int64_t stride_b, float beta, float* C, int64_t ldc,
                    int64_t stride_c, int64_t batch) {
  for (int64_t i = 0; i < batch; ++i) {
    const dnnl_status_t status = jit_gemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A + i * stride_a,
                                          lda, B + i * stride_b, ldb, beta, C + i * stride_c, ldc);
    if (status == dnnl_unimplemented && i == 0) return false;
    CHECK(status == dnnl_success, "gemm (onednn {} gemm): status {} for M={} N={} K={} lda={} ldb={} ldc={}",
          std::is_same_v<T, bf16> ? "bf16" : "f32", int(status), M, N, K, lda, ldb, ldc);
  }
  return true;
}

}  // namespace

void set_onednn_kernel(OneDnnKernel kernel) { g_kernel.store(int(kernel)); }

OneDnnKernel onednn_kernel(bool bf16, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t batch) {
  const auto chosen = OneDnnKernel(g_kernel.load());
  if (chosen != OneDnnKernel::automatic) return chosen;
  const bool backward_shaped = !trans_b;  // dx = dy w, dw = dy^T x; forward is x w^T
  const bool wide = bf16 || std::min({M, N, K}) >= kSgemmMinDim;
  return batch == 1 && backward_shaped && wide ? OneDnnKernel::gemm : OneDnnKernel::matmul;
}

void gemm_onednn(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                 float* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  if (onednn_kernel(false, trans_b, M, N, K, batch) == OneDnnKernel::gemm &&
      jit_gemm_batch(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c,
                     batch))
    return;
  gemm_onednn_typed(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c,
                    batch, false);
}

void gemm_onednn_linear(int64_t M, int64_t N, int64_t K, const void* A, const void* W, bool bf16, const float* bias,
                        bool relu, void* C, bool c_bf16) {
  Key key{};
  key.M = M, key.N = N, key.K = K, key.batch = 1, key.lda = K, key.ldb = K, key.ldc = N;
  key.trans_b = 1, key.threads = omp_get_max_threads(), key.bf16 = bf16;
  key.bias = bias != nullptr, key.relu = relu, key.c_bf16 = c_bf16;
  MatmulCache& c = cache();
  const Entry e = c.get(key, 0.0f);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(e.a, c.engine(), const_cast<void*>(A))},
                                             {DNNL_ARG_WEIGHTS, dnnl::memory(e.b, c.engine(), const_cast<void*>(W))},
                                             {DNNL_ARG_DST, dnnl::memory(e.c, c.engine(), C)}};
  if (bias)
    args.emplace(DNNL_ARG_BIAS, dnnl::memory(bias_desc(N), c.engine(), const_cast<float*>(bias)));
  thread_local dnnl::stream stream(c.engine());
  e.prim.execute(stream, args);
  stream.wait();
}

void gemm_onednn_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const bf16* A,
                      int64_t lda, int64_t stride_a, const bf16* B, int64_t ldb, int64_t stride_b, float beta,
                      float* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  if (onednn_kernel(true, trans_b, M, N, K, batch) == OneDnnKernel::gemm &&
      jit_gemm_batch(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c,
                     batch))
    return;
  gemm_onednn_typed(trans_a, trans_b, M, N, K, alpha, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc, stride_c,
                    batch, true);
}

}  // namespace attend::detail

// --- weights packed once for oneDNN (inference) ---------------------------------------
namespace attend::detail {

struct PackedWeight {
  int64_t N = 0, K = 0;
  bool bf16 = false;
  dnnl::memory::desc desc;  // the layout oneDNN chose
  dnnl::memory memory;      // the packed copy
  std::mutex mutex;
  std::map<std::tuple<int64_t, int64_t, int64_t, bool, int>, std::shared_ptr<dnnl::matmul>> prims;  // M, lda, ldc, bias, threads
};

namespace {

dnnl::memory::desc plain_weight_desc(int64_t N, int64_t K, bool bf16) {  // w: (N,K) row-major read as (K,N)
  return dnnl::memory::desc(dims{K, N}, bf16 ? dt::bf16 : dt::f32, dims{1, K});
}

// A matmul of M rows against the packed layout, or null when oneDNN has only its
// reference kernel for it (then the plain weight is used).
std::shared_ptr<dnnl::matmul> packed_matmul(const PackedWeight& w, int64_t M, int64_t lda, int64_t ldc, bool bias) {
  const dt in = w.bf16 ? dt::bf16 : dt::f32;
  dnnl::memory::desc a(dims{M, w.K}, in, dims{lda, 1});
  dnnl::memory::desc c(dims{M, w.N}, dt::f32, dims{ldc, 1});
  try {
    dnnl::matmul::primitive_desc pd(bias ? dnnl::matmul::desc(a, w.desc, bias_desc(w.N), c) : dnnl::matmul::desc(a, w.desc, c),
                                    cache().engine());
    if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0) return nullptr;
    return std::make_shared<dnnl::matmul>(pd);
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

}  // namespace

std::shared_ptr<PackedWeight> pack_weight(const void* w, bool bf16, int64_t N, int64_t K, int64_t M) {
  const dt in = bf16 ? dt::bf16 : dt::f32;
  dnnl::memory::desc a(dims{M, K}, in, dims{K, 1});
  dnnl::memory::desc any(dims{K, N}, in, dnnl::memory::format_tag::any);
  dnnl::memory::desc c(dims{M, N}, dt::f32, dims{N, 1});
  dnnl::memory::desc chosen;
  try {
    chosen = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, any, c), cache().engine()).weights_desc();
  } catch (const dnnl::error&) {
    return nullptr;
  }
  auto packed = std::make_shared<PackedWeight>();
  packed->N = N, packed->K = K, packed->bf16 = bf16, packed->desc = chosen;
  packed->memory = dnnl::memory(chosen, cache().engine());
  dnnl::memory plain(plain_weight_desc(N, K, bf16), cache().engine(), const_cast<void*>(w));
  dnnl::stream stream(cache().engine());
  dnnl::reorder(plain, packed->memory).execute(stream, plain, packed->memory);
  stream.wait();
  return packed;
}

void packed_weight_size(const PackedWeight& w, int64_t& N, int64_t& K) { N = w.N, K = w.K; }

bool gemm_onednn_packed(PackedWeight& w, int64_t M, const void* A, int64_t lda, const float* bias, float* C,
                        int64_t ldc) {
  const auto key = std::make_tuple(M, lda, ldc, bias != nullptr, omp_get_max_threads());
  std::shared_ptr<dnnl::matmul> prim;
  {
    std::lock_guard<std::mutex> lock(w.mutex);
    auto it = w.prims.find(key);
    if (it == w.prims.end()) it = w.prims.emplace(key, packed_matmul(w, M, lda, ldc, bias != nullptr)).first;
    prim = it->second;
  }
  if (!prim) return false;
  const dt in = w.bf16 ? dt::bf16 : dt::f32;
  dnnl::memory a_mem(dnnl::memory::desc(dims{M, w.K}, in, dims{lda, 1}), cache().engine(), const_cast<void*>(A));
  dnnl::memory c_mem(dnnl::memory::desc(dims{M, w.N}, dt::f32, dims{ldc, 1}), cache().engine(), C);
  thread_local dnnl::stream stream(cache().engine());
  if (bias) {
    dnnl::memory b_mem(bias_desc(w.N), cache().engine(), const_cast<float*>(bias));
    prim->execute(stream, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, w.memory}, {DNNL_ARG_BIAS, b_mem}, {DNNL_ARG_DST, c_mem}});
  } else {
    prim->execute(stream, {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, w.memory}, {DNNL_ARG_DST, c_mem}});
  }
  stream.wait();
  return true;
}

}  // namespace attend::detail

// The OpenBLAS gemm backend, loaded with dlopen on first use.
//
// The OpenMP build of OpenBLAS shares libgomp with oneDNN and our ops, so one
// omp_set_num_threads governs all three. OpenBLAS 0.3.21 does not recognise this CPU
// and falls back to its "Prescott" kernels (3-4x slower), so OPENBLAS_CORETYPE is set
// before the library loads, unless the user has set it. Batches are a loop over
// cblas_sgemm; a batch of small products is spread over the OpenMP threads instead
// (OpenBLAS runs single-threaded inside a parallel region).
#include <dlfcn.h>
#include <omp.h>

#include <climits>
#include <cstdlib>
#include <mutex>

#include "core/error.h"
#include "core/gemm.h"

namespace attend::detail {
namespace {

constexpr const char* kCoreType = "Cooperlake";  // AVX-512 (+BF16) kernels; what 0.3.21 should pick here
constexpr const char* kPackage = "libopenblas0-openmp";

// CBLAS enums (cblas.h), declared here so nothing links OpenBLAS at build time.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
using SgemmFn = void (*)(int order, int trans_a, int trans_b, int M, int N, int K, float alpha, const float* A,
                         int lda, const float* B, int ldb, float beta, float* C, int ldc);
using SetThreadsFn = void (*)(int n);
using CoreNameFn = char* (*)();

struct OpenBlas {
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_num_threads = nullptr;
  CoreNameFn core_name = nullptr;
};

std::mutex g_mutex;
OpenBlas* g_loaded = nullptr;  // set once, under g_mutex; never unloaded
int g_pending_threads = 0;     // a set_num_threads() that came before the load

const std::vector<std::string>& default_paths() {
  static const std::vector<std::string> paths{"/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
                                              "libopenblas.so.0"};
  return paths;
}

OpenBlas& openblas() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_loaded != nullptr) return *g_loaded;
  void* handle = open_openblas(default_paths());
  auto* lib = new OpenBlas;
  lib->sgemm = reinterpret_cast<SgemmFn>(dlsym(handle, "cblas_sgemm"));
  lib->set_num_threads = reinterpret_cast<SetThreadsFn>(dlsym(handle, "openblas_set_num_threads"));
  lib->core_name = reinterpret_cast<CoreNameFn>(dlsym(handle, "openblas_get_corename"));
  CHECK(lib->sgemm != nullptr && lib->set_num_threads != nullptr,
        "gemm (openblas): the loaded library lacks cblas_sgemm or openblas_set_num_threads; install {}",
        kPackage);
  if (g_pending_threads > 0) lib->set_num_threads(g_pending_threads);
  g_loaded = lib;
  return *lib;
}

int as_int(int64_t v, const char* name) {
  CHECK(v <= INT_MAX, "gemm (openblas): {}={} exceeds the 32-bit BLAS interface", name, v);
  return int(v);
}

}  // namespace

void* open_openblas(const std::vector<std::string>& paths) {
  setenv("OPENBLAS_CORETYPE", kCoreType, /*overwrite=*/0);
  std::string tried;
  for (const std::string& path : paths) {
    if (void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
    tried += (tried.empty() ? "" : "; ") + std::string(dlerror());
  }
  ATTEND_ERROR("gemm (openblas): cannot load OpenBLAS ({}); install the Debian package {} or set ATTEND_GEMM=onednn",
               tried, kPackage);
}

void openblas_set_threads(int n) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_pending_threads = n;
  if (g_loaded != nullptr) g_loaded->set_num_threads(n);
}

std::string openblas_core_name() {
  const OpenBlas& lib = openblas();
  return lib.core_name != nullptr ? std::string(lib.core_name()) : std::string("unknown");
}

void gemm_openblas(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, int64_t stride_a, const float* B, int64_t ldb, int64_t stride_b, float beta,
                   float* C, int64_t ldc, int64_t stride_c, int64_t batch) {
  const OpenBlas& lib = openblas();
  const int m = as_int(M, "M"), n = as_int(N, "N"), k = as_int(K, "K");
  const int la = as_int(lda, "lda"), lb = as_int(ldb, "ldb"), lc = as_int(ldc, "ldc");
  const int ta = trans_a ? kTrans : kNoTrans, tb = trans_b ? kTrans : kNoTrans;
  auto one = [&](int64_t i) {
    lib.sgemm(kRowMajor, ta, tb, m, n, k, alpha, A + i * stride_a, la, B + i * stride_b, lb, beta,
              C + i * stride_c, lc);
  };
  // Products below ~128^3 each run on one thread, spread over the batch (gemm() has
  // already dropped to one thread if the whole batch is too little work).
  if (batch > 1 && M * N * K <= (int64_t(1) << 21) && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < batch; ++i) one(i);
  } else {
    for (int64_t i = 0; i < batch; ++i) one(i);
  }
}

}  // namespace attend::detail

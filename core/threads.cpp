#include "core/threads.h"

#include <omp.h>

#include "core/error.h"
#include "core/gemm.h"

namespace attend {

void set_num_threads(int n) {
  CHECK(n >= 0, "set_num_threads: {} threads; use a positive count, or 0 for every core", n);
  if (n == 0) n = omp_get_num_procs();
  omp_set_num_threads(n);
  detail::openblas_set_threads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace attend

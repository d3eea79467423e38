// One thread count for everything that computes: our OpenMP loops, oneDNN (built on
// the same OpenMP runtime) and OpenBLAS (its OpenMP build, also when it loads later).
//
//   set_num_threads(2);   // train.threads from the config; 0 = every core
//   int n = num_threads();
//
// The count applies to parallel regions started from the calling thread (OpenMP's
// per-thread setting), which is the thread that runs the model.
#pragma once

namespace attend {

void set_num_threads(int n);  // n >= 0; 0 = the number of cores
int num_threads();

}  // namespace attend

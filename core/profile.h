// Per-op profile: where the time of a forward/backward pass goes, by op name.
// Off unless ATTEND_PROFILE=1 is in the environment or profile::set_enabled(true).
//
//   profile::set_enabled(true);  profile::reset();
//   ... run training steps ...
//   std::fputs(profile::report(steps).c_str(), stderr);   // table, per step
//
// Forward: ops record their result at their end (autograd::record), so the time from
// the previous event to an op's record() is charged to that op: its own work plus any
// glue code just before it. mark() starts a new interval without charging anyone
// (call it at phase boundaries). Backward: each closure is timed under its op's name.
// gemm(): its total time and multiply-adds, counted inside both of the above.
#pragma once

#include <cstdint>
#include <string>

namespace attend::profile {

bool enabled();
void set_enabled(bool on);
void reset();  // zero every counter and mark()

void mark();                                          // now is the start of the next op
void forward_op(const char* name);                    // op `name` ends now (autograd::record)
void backward_op(const char* name, double seconds);   // a backward closure ran that long
void gemm_call(double seconds, double flops);         // one gemm() call

// While one lives (autograd::backward holds one), forward_op() charges nothing: ops
// that backward closures call are part of their closure's time. Ends with mark().
class BackwardScope {
 public:
  BackwardScope();
  ~BackwardScope();
  BackwardScope(const BackwardScope&) = delete;
  BackwardScope& operator=(const BackwardScope&) = delete;
};

// Seconds charged so far to all forward ops, all backward closures, gemm().
double forward_seconds();
double backward_seconds();
double gemm_seconds();

// A table: op, forward and backward ms per step, calls per step, share of the total;
// then gemm's share and rate. `steps` divides every figure.
std::string report(int64_t steps);

}  // namespace attend::profile

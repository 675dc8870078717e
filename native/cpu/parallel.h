// A static-schedule parallel loop shared by the ops kernels.
//
// Each index runs on exactly one thread and the body of one index never
// depends on another, so results are the same for any thread count. Small
// loops run serially because entering the OpenMP runtime costs more than the
// work itself.
#pragma once

#include <omp.h>

#include <cstdint>

#include "cpu/common.h"

namespace snax {

// Loops with fewer float operations than this in total run on one thread.
// NOTE: an estimate of where the OpenMP start-up cost (a few microseconds)
// stops dominating; it was not tuned by measurement.
constexpr int64_t kMinParallelWork = 1 << 15;

// Calls body(i) for i in [0, count). work_per_index is a rough count of the
// float operations of one index. The body must not throw.
template <typename Body>
void parallel_for(int64_t count, int64_t work_per_index, Body&& body) {
  const int threads = num_threads();
  if (threads <= 1 || count < 2 || count * work_per_index < kMinParallelWork) {
    for (int64_t i = 0; i < count; ++i) body(i);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t i = 0; i < count; ++i) body(i);
}

}  // namespace snax

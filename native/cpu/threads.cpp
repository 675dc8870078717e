// Thread count for the CPU kernels, read once from SNAX_NUM_THREADS.
#include "cpu/common.h"

#include <omp.h>

#include <cstdlib>

namespace snax {

namespace {
int thread_override = 0;

// Reads SNAX_NUM_THREADS strictly: a whole positive integer up to
// kMaxThreads. The TypeScript loader rejects other values with a message
// before any kernel runs; a library caller that skips it gets every core.
int default_threads() {
  const char* value = std::getenv("SNAX_NUM_THREADS");
  if (value != nullptr && *value != '\0') {
    char* end = nullptr;
    long parsed = std::strtol(value, &end, 10);
    if (*end == '\0' && parsed > 0 && parsed <= kMaxThreads) return static_cast<int>(parsed);
  }
  return omp_get_num_procs();
}
}  // namespace

int num_threads() {
  static const int from_environment = default_threads();
  return thread_override > 0 ? thread_override : from_environment;
}

void set_num_threads(int threads) {
  SNAX_CHECK(threads >= 0 && threads <= kMaxThreads, "INVALID_ARGUMENT",
             "threads must be an integer in [0, " << kMaxThreads << "], got " << threads);
  thread_override = threads;
}

}  // namespace snax

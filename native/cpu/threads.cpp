// Thread count for the CPU kernels, read once from SNAX_NUM_THREADS.
#include "cpu/common.h"

#include <omp.h>

#include <cstdlib>

namespace snax {

namespace {
int thread_override = 0;

int default_threads() {
  const char* value = std::getenv("SNAX_NUM_THREADS");
  if (value != nullptr) {
    int parsed = std::atoi(value);
    if (parsed > 0) return parsed;
  }
  return omp_get_num_procs();
}
}  // namespace

int num_threads() {
  static const int from_environment = default_threads();
  return thread_override > 0 ? thread_override : from_environment;
}

void set_num_threads(int threads) { thread_override = threads > 0 ? threads : 0; }

}  // namespace snax

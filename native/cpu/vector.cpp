// Flat vector helpers for the optimizer: sum of squares (for the global
// gradient norm), in-place scale and in-place add.
//
// Shapes: n elements, flat.
// sum_squares splits x into fixed 16384-element chunks, sums each chunk in
// double with eight fixed lanes, and adds the chunk sums in order, so the
// result does not depend on the thread count.
#include <algorithm>
#include <vector>

#include "cpu/common.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"

namespace snax {

namespace {
constexpr int64_t kChunk = 16384;
constexpr int64_t kLanes = 8;

double chunk_sum_squares(const float* x, int64_t n) {
  double lanes[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t lane = 0; lane < kLanes; ++lane) lanes[lane] += static_cast<double>(x[i + lane]) * x[i + lane];
  for (; i < n; ++i) lanes[0] += static_cast<double>(x[i]) * x[i];
  double sum = 0.0;
  for (int64_t lane = 0; lane < kLanes; ++lane) sum += lanes[lane];
  return sum;
}

void check_size(int64_t n, const char* op) {
  SNAX_CHECK(n >= 0, "INVALID_ARGUMENT", op << ": expected n >= 0, got " << n);
}

}  // namespace

double sum_squares(const float* x, int64_t n) {
  check_size(n, "sumSquares");
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(chunks, 0.0);
  parallel_for(chunks, 2 * kChunk, [&](int64_t chunk) {
    const int64_t first = chunk * kChunk;
    partial[chunk] = chunk_sum_squares(x + first, std::min(kChunk, n - first));
  });
  double total = 0.0;
  for (double value : partial) total += value;
  return total;
}

void scale_in_place(float* x, int64_t n, float factor) {
  check_size(n, "scaleInPlace");
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, kChunk, [&](int64_t chunk) {
    const int64_t last = std::min(n, (chunk + 1) * kChunk);
    for (int64_t i = chunk * kChunk; i < last; ++i) x[i] *= factor;
  });
}

void add_in_place(float* a, const float* b, int64_t n) {
  check_size(n, "addInPlace");
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for(chunks, kChunk, [&](int64_t chunk) {
    const int64_t last = std::min(n, (chunk + 1) * kChunk);
    for (int64_t i = chunk * kChunk; i < last; ++i) a[i] += b[i];
  });
}

}  // namespace snax

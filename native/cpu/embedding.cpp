// Token embedding: out_TD[t] = wte_VD[tokens_T[t]].
//
// Shapes: T tokens, D model width, V vocabulary.
// Backward needs tokens_T from forward. dwte_VD is accumulated (+=).
//
// Backward has no atomics: the vocabulary is cut into one band of rows per
// thread, and every thread scans all tokens and adds only rows in its band.
// Each row therefore sums its tokens in token order, for any thread count.
#include <algorithm>
#include <cstring>

#include "cpu/common.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"

namespace snax {

namespace {

void check_tokens(const int32_t* tokens_T, int64_t T, int64_t V) {
  for (int64_t t = 0; t < T; ++t) {
    SNAX_CHECK(tokens_T[t] >= 0 && tokens_T[t] < V, "INVALID_ARGUMENT",
               "token id " << tokens_T[t] << " at position " << t << " is outside the vocabulary [0, " << V << ")");
  }
}

void check_sizes(int64_t T, int64_t D, int64_t V) {
  SNAX_CHECK(T >= 0 && D >= 1 && V >= 1, "INVALID_ARGUMENT",
             "embedding: expected T >= 0, D >= 1, V >= 1, got T=" << T << " D=" << D << " V=" << V);
}

}  // namespace

void embedding_forward(float* out_TD, const int32_t* tokens_T, const float* wte_VD, int64_t T, int64_t D, int64_t V) {
  check_sizes(T, D, V);
  check_tokens(tokens_T, T, V);
  parallel_for(T, D, [&](int64_t t) {
    std::memcpy(out_TD + t * D, wte_VD + static_cast<int64_t>(tokens_T[t]) * D, sizeof(float) * D);
  });
}

void embedding_backward(float* dwte_VD, const float* dout_TD, const int32_t* tokens_T, int64_t T, int64_t D,
                        int64_t V) {
  check_sizes(T, D, V);
  check_tokens(tokens_T, T, V);
  const int64_t bands = T * D < kMinParallelWork ? 1 : std::min<int64_t>(num_threads(), V);
  parallel_for(bands, kMinParallelWork, [&](int64_t band) {
    const int64_t first = V * band / bands;
    const int64_t last = V * (band + 1) / bands;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t id = tokens_T[t];
      if (id < first || id >= last) continue;
      float* dst = dwte_VD + id * D;
      const float* src = dout_TD + t * D;
      for (int64_t d = 0; d < D; ++d) dst[d] += src[d];
    }
  });
}

}  // namespace snax

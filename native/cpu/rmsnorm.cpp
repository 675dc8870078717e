// RMSNorm: out_TD = x_TD * rstd_T * weight_D, rstd = 1/sqrt(mean(x^2) + eps).
//
// Shapes: T tokens, D model width.
// Forward saves rstd_T. Backward needs x_TD, rstd_T and weight_D, and it
// accumulates into dx_TD (+=) and dweight_D (+=).
//
// With g = dout * weight, the input gradient of one row is
//   dx = rstd * g - rstd^3 / D * x * sum(g * x).
// dweight is a sum over tokens, so backward splits it by columns (each thread
// owns a band of columns and sums tokens in order) instead of by rows.
#include <algorithm>
#include <cmath>

#include "cpu/common.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"

namespace snax {

namespace {

void check_sizes(int64_t T, int64_t D) {
  SNAX_CHECK(T >= 0 && D >= 1, "INVALID_ARGUMENT", "rmsnorm: expected T >= 0 and D >= 1, got T=" << T << " D=" << D);
}

}  // namespace

void rmsnorm_forward(float* out_TD, float* rstd_T, const float* x_TD, const float* weight_D, int64_t T, int64_t D,
                     float eps) {
  check_sizes(T, D);
  SNAX_CHECK(std::isfinite(eps) && eps >= 0.0f, "INVALID_ARGUMENT",
             "rmsnorm: eps must be a finite number >= 0, got " << eps);
  parallel_for(T, 3 * D, [&](int64_t t) {
    const float* x = x_TD + t * D;
    double sum_sq = 0.0;
    for (int64_t d = 0; d < D; ++d) sum_sq += static_cast<double>(x[d]) * x[d];
    const float rstd = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(D) + eps));
    rstd_T[t] = rstd;
    float* out = out_TD + t * D;
    for (int64_t d = 0; d < D; ++d) out[d] = x[d] * rstd * weight_D[d];
  });
}

void rmsnorm_backward(float* dx_TD, float* dweight_D, const float* dout_TD, const float* x_TD, const float* rstd_T,
                      const float* weight_D, int64_t T, int64_t D) {
  check_sizes(T, D);

  parallel_for(T, 5 * D, [&](int64_t t) {
    const float* x = x_TD + t * D;
    const float* dout = dout_TD + t * D;
    const float rstd = rstd_T[t];
    double dot = 0.0;
    for (int64_t d = 0; d < D; ++d) dot += static_cast<double>(dout[d]) * weight_D[d] * x[d];
    const float coefficient = static_cast<float>(dot * rstd * rstd * rstd / static_cast<double>(D));
    float* dx = dx_TD + t * D;
    for (int64_t d = 0; d < D; ++d) dx[d] += rstd * dout[d] * weight_D[d] - coefficient * x[d];
  });

  const int64_t bands = T * D < kMinParallelWork ? 1 : std::min<int64_t>(num_threads(), D);
  parallel_for(bands, kMinParallelWork, [&](int64_t band) {
    const int64_t first = D * band / bands;
    const int64_t last = D * (band + 1) / bands;
    for (int64_t t = 0; t < T; ++t) {
      const float* x = x_TD + t * D;
      const float* dout = dout_TD + t * D;
      const float rstd = rstd_T[t];
      for (int64_t d = first; d < last; ++d) dweight_D[d] += dout[d] * x[d] * rstd;
    }
  });
}

}  // namespace snax

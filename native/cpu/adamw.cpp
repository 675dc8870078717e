// AdamW with decoupled weight decay and bias correction (step counts from 1):
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   param -= lr * (mhat / (sqrt(vhat) + eps) + weight_decay * param)
// with mhat = m / (1 - beta1^step) and vhat = v / (1 - beta2^step).
//
// Shapes: n parameters, flat. param, m and v are updated in place; grad is read.
#include <algorithm>
#include <cmath>

#include "cpu/common.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"

namespace snax {

namespace {
constexpr int64_t kChunk = 4096;
}  // namespace

void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                float eps, float weight_decay, int64_t step) {
  SNAX_CHECK(n >= 0, "INVALID_ARGUMENT", "adamw: expected n >= 0, got " << n);
  SNAX_CHECK(step >= 1, "INVALID_ARGUMENT", "adamw: step counts from 1, got " << step);
  SNAX_CHECK(beta1 >= 0.0f && beta1 < 1.0f && beta2 >= 0.0f && beta2 < 1.0f, "INVALID_ARGUMENT",
             "adamw: beta1 and beta2 must be in [0, 1), got beta1=" << beta1 << " beta2=" << beta2);

  const float correction1 = static_cast<float>(1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step)));
  const float correction2 = static_cast<float>(1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step)));
  const float step_size = lr / correction1;
  const float inverse_sqrt_correction2 = static_cast<float>(1.0 / std::sqrt(static_cast<double>(correction2)));
  const int64_t chunks = (n + kChunk - 1) / kChunk;

  parallel_for(chunks, 12 * kChunk, [&](int64_t chunk) {
    const int64_t last = std::min(n, (chunk + 1) * kChunk);
    for (int64_t i = chunk * kChunk; i < last; ++i) {
      const float g = grad[i];
      m[i] = beta1 * m[i] + (1.0f - beta1) * g;
      v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
      const float denominator = std::sqrt(v[i]) * inverse_sqrt_correction2 + eps;
      param[i] -= step_size * m[i] / denominator + lr * weight_decay * param[i];
    }
  });
}

}  // namespace snax

// Cross-entropy over logits, forward and backward fused:
//   losses_T[t] = logsumexp(logits_TV[t]) - logits_TV[t, targets_T[t]]
//   dlogits_TV[t] = (softmax(logits_TV[t]) - onehot(targets_T[t])) * grad_scale
//
// Shapes: T tokens, V vocabulary.
// dlogits_TV is written (=) when it is not null; nothing is saved.
// The exponentials are summed in double. A row with a NaN or infinite logit
// is flagged inside the parallel loop and reported with NON_FINITE after it.
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/common.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"

namespace snax {

double cross_entropy(float* losses_T, float* dlogits_TV, const float* logits_TV, const int32_t* targets_T, int64_t T,
                     int64_t V, float grad_scale) {
  SNAX_CHECK(T >= 0 && V >= 1, "INVALID_ARGUMENT",
             "crossEntropy: expected T >= 0 and V >= 1, got T=" << T << " V=" << V);
  for (int64_t t = 0; t < T; ++t) {
    SNAX_CHECK(targets_T[t] >= 0 && targets_T[t] < V, "INVALID_ARGUMENT",
               "target " << targets_T[t] << " at position " << t << " is outside the vocabulary [0, " << V << ")");
  }
  std::vector<char> non_finite(T, 0);

  parallel_for(T, 4 * V, [&](int64_t t) {
    const float* logits = logits_TV + t * V;
    float max_logit = -INFINITY;
    for (int64_t v = 0; v < V; ++v) {
      if (!std::isfinite(logits[v])) {
        non_finite[t] = 1;
        return;
      }
      max_logit = std::max(max_logit, logits[v]);
    }
    double sum = 0.0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(logits[v] - max_logit);
    const double log_sum = std::log(sum);
    losses_T[t] = static_cast<float>(static_cast<double>(max_logit) + log_sum - logits[targets_T[t]]);

    if (dlogits_TV == nullptr) return;
    float* dlogits = dlogits_TV + t * V;
    const float inverse = static_cast<float>(1.0 / sum);
    for (int64_t v = 0; v < V; ++v) dlogits[v] = std::exp(logits[v] - max_logit) * inverse * grad_scale;
    dlogits[targets_T[t]] -= grad_scale;
  });

  double total = 0.0;
  for (int64_t t = 0; t < T; ++t) {
    SNAX_CHECK(!non_finite[t], "NON_FINITE", "crossEntropy: logits row " << t << " contains NaN or infinity");
    total += losses_T[t];
  }
  return total;
}

}  // namespace snax

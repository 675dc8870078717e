// Cross-entropy over logits, forward and backward fused:
//   losses_T[t] = logsumexp(logits_TV[t]) - logits_TV[t, targets_T[t]]
//   dlogits_TV[t] = (softmax(logits_TV[t]) - onehot(targets_T[t])) * grad_scale
//
// Shapes: T tokens, V vocabulary.
// dlogits_TV is written (=) when it is not null; nothing is saved.
//
// Each row reads the logits twice. The first pass finds the maximum and checks
// that every logit is finite. The second computes exp(logit - max) once, into
// dlogits or a per-thread scratch row, and sums it in double with fixed lanes.
// dlogits is then scaled in place. A row with a NaN or infinite logit is
// flagged inside the parallel loop and reported with NON_FINITE after it.
#include <omp.h>

#include <cmath>
#include <vector>

#include "cpu/common.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"
#include "cpu/vmath.h"

namespace snax {

namespace {

constexpr int64_t kLanes = 16;

// Sets *max_out to the row maximum, or returns false when the row contains
// NaN or infinity.
// x - x is 0 for finite x and NaN otherwise, so one NaN in the lane sums
// marks the row.
bool row_max(const float* x, int64_t n, float* max_out) {
  float lane_max[kLanes], lane_check[kLanes] = {};
  for (int64_t lane = 0; lane < kLanes; ++lane) lane_max[lane] = -INFINITY;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t lane = 0; lane < kLanes; ++lane) {
      const float value = x[i + lane];
      lane_max[lane] = value > lane_max[lane] ? value : lane_max[lane];
      lane_check[lane] += value - value;
    }
  for (; i < n; ++i) {
    lane_max[0] = x[i] > lane_max[0] ? x[i] : lane_max[0];
    lane_check[0] += x[i] - x[i];
  }
  float max_value = -INFINITY, check = 0.0f;
  for (int64_t lane = 0; lane < kLanes; ++lane) {
    max_value = lane_max[lane] > max_value ? lane_max[lane] : max_value;
    check += lane_check[lane];
  }
  *max_out = max_value;
  return check == 0.0f;
}

// Writes exp(x - shift) to out and returns its sum, accumulated in double.
double exp_and_sum(float* out, const float* x, int64_t n, float shift) {
  for (int64_t i = 0; i < n; ++i) out[i] = exp_approx(x[i] - shift);
  constexpr int64_t kSumLanes = 8;
  double lanes[kSumLanes] = {};
  int64_t i = 0;
  for (; i + kSumLanes <= n; i += kSumLanes)
    for (int64_t lane = 0; lane < kSumLanes; ++lane) lanes[lane] += out[i + lane];
  for (; i < n; ++i) lanes[0] += out[i];
  double sum = 0.0;
  for (int64_t lane = 0; lane < kSumLanes; ++lane) sum += lanes[lane];
  return sum;
}

}  // namespace

double cross_entropy(float* losses_T, float* dlogits_TV, const float* logits_TV, const int32_t* targets_T, int64_t T,
                     int64_t V, float grad_scale) {
  SNAX_CHECK(T >= 0 && V >= 1, "INVALID_ARGUMENT",
             "crossEntropy: expected T >= 0 and V >= 1, got T=" << T << " V=" << V);
  for (int64_t t = 0; t < T; ++t) {
    SNAX_CHECK(targets_T[t] >= 0 && targets_T[t] < V, "INVALID_ARGUMENT",
               "target " << targets_T[t] << " at position " << t << " is outside the vocabulary [0, " << V << ")");
  }
  std::vector<char> non_finite(T, 0);
  // Scratch rows for the exponentials when dlogits is not requested.
  std::vector<float> scratch(dlogits_TV == nullptr ? static_cast<size_t>(num_threads()) * V : 0);

  parallel_for(T, 8 * V, [&](int64_t t) {
    const float* logits = logits_TV + t * V;
    float max_logit;
    if (!row_max(logits, V, &max_logit)) {
      non_finite[t] = 1;
      return;
    }
    float* exps = dlogits_TV != nullptr ? dlogits_TV + t * V : scratch.data() + omp_get_thread_num() * V;
    const double sum = exp_and_sum(exps, logits, V, max_logit);
    losses_T[t] = static_cast<float>(static_cast<double>(max_logit) + std::log(sum) - logits[targets_T[t]]);

    if (dlogits_TV == nullptr) return;
    const float factor = static_cast<float>(grad_scale / sum);
    for (int64_t v = 0; v < V; ++v) exps[v] *= factor;
    exps[targets_T[t]] -= grad_scale;
  });

  double total = 0.0;
  for (int64_t t = 0; t < T; ++t) {
    SNAX_CHECK(!non_finite[t], "NON_FINITE", "crossEntropy: logits row " << t << " contains NaN or infinity");
    total += losses_T[t];
  }
  return total;
}

}  // namespace snax

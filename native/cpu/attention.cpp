// Causal multi-head self-attention with rotary position embeddings (RoPE).
//
// Shapes: B batch, S sequence length, D model width, H heads, and the head
// width hd = D / H (even, because RoPE rotates pairs).
// qkv_BS3D contains q, k and v side by side for every token: columns [0, D) are
// q, [D, 2D) are k and [2D, 3D) are v, and head h uses columns
// h*hd..(h+1)*hd of each. RoPE rotates the pair (2i, 2i+1) of every q and k
// head by the angle pos * theta^(-2i/hd), where pos is the position within
// the sequence. Scores are scaled by 1/sqrt(hd).
//
// Forward saves qkvRot_BS3D (roped q and k, plain v) and probs_BHSS (the
// softmax of each query row, zero above the diagonal). Backward needs both,
// and writes dqkv_BS3D (=), the gradient with respect to the un-roped qkv.
//
// This is the plain O(S^2) form per (batch, head). Forward works one query
// row at a time (scores, softmax and the weighted sum of v while the row is
// in cache), in parallel over rows. Backward runs in parallel over
// (batch, head) pairs, because dk and dv sum over query rows and each pair
// sums them in row order on one thread.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/common.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"
#include "cpu/vmath.h"

namespace snax {

namespace {

void check_sizes(int64_t B, int64_t S, int64_t D, int64_t H, double rope_theta) {
  SNAX_CHECK(B >= 0 && S >= 0, "INVALID_ARGUMENT", "attention: expected B >= 0 and S >= 0, got B=" << B << " S=" << S);
  SNAX_CHECK(H >= 1 && D >= 1 && D % H == 0, "INVALID_ARGUMENT",
             "attention: heads H=" << H << " must divide the width D=" << D);
  SNAX_CHECK((D / H) % 2 == 0, "INVALID_ARGUMENT",
             "attention: head width D/H=" << D / H << " must be even for RoPE (D=" << D << ", H=" << H << ")");
  SNAX_CHECK(std::isfinite(rope_theta) && rope_theta > 0.0, "INVALID_ARGUMENT",
             "attention: ropeTheta must be a finite number > 0, got " << rope_theta);
}

// cos and sin of the RoPE angle for every (position, pair): S x hd/2 each.
struct RopeTable {
  std::vector<float> cos_S, sin_S;
  int64_t half;

  RopeTable(int64_t S, int64_t head_width, double theta) : half(head_width / 2) {
    cos_S.resize(S * half);
    sin_S.resize(S * half);
    for (int64_t i = 0; i < half; ++i) {
      const double frequency = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_width));
      for (int64_t pos = 0; pos < S; ++pos) {
        const double angle = static_cast<double>(pos) * frequency;
        cos_S[pos * half + i] = static_cast<float>(std::cos(angle));
        sin_S[pos * half + i] = static_cast<float>(std::sin(angle));
      }
    }
  }
};

// Rotates every pair of x (hd values) forward by the angles of position pos.
inline void rotate(float* out, const float* x, const RopeTable& rope, int64_t pos) {
  const float* c = rope.cos_S.data() + pos * rope.half;
  const float* s = rope.sin_S.data() + pos * rope.half;
  for (int64_t i = 0; i < rope.half; ++i) {
    const float x0 = x[2 * i], x1 = x[2 * i + 1];
    out[2 * i] = x0 * c[i] - x1 * s[i];
    out[2 * i + 1] = x0 * s[i] + x1 * c[i];
  }
}

// Applies the transpose of the rotation in place: maps a gradient with
// respect to roped values to one with respect to the values before RoPE.
inline void rotate_back(float* g, const RopeTable& rope, int64_t pos) {
  const float* c = rope.cos_S.data() + pos * rope.half;
  const float* s = rope.sin_S.data() + pos * rope.half;
  for (int64_t i = 0; i < rope.half; ++i) {
    const float g0 = g[2 * i], g1 = g[2 * i + 1];
    g[2 * i] = g0 * c[i] + g1 * s[i];
    g[2 * i + 1] = -g0 * s[i] + g1 * c[i];
  }
}

}  // namespace

void attention_forward(float* out_BSD, float* qkvRot_BS3D, float* probs_BHSS, const float* qkv_BS3D, int64_t B,
                       int64_t S, int64_t D, int64_t H, double rope_theta) {
  check_sizes(B, S, D, H, rope_theta);
  const int64_t hd = D / H;
  const int64_t row_width = 3 * D;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const RopeTable rope(S, hd, rope_theta);

  // Rope q and k of every token, copy v.
  parallel_for(B * S, 6 * D, [&](int64_t token) {
    const int64_t pos = token % S;
    const float* src = qkv_BS3D + token * row_width;
    float* dst = qkvRot_BS3D + token * row_width;
    for (int64_t h = 0; h < H; ++h) {
      rotate(dst + h * hd, src + h * hd, rope, pos);
      rotate(dst + D + h * hd, src + D + h * hd, rope, pos);
    }
    for (int64_t d = 2 * D; d < 3 * D; ++d) dst[d] = src[d];
  });

  // One query row per index: scores, softmax, then the weighted sum of v.
  parallel_for(B * H * S, 2 * S * hd, [&](int64_t row) {
    const int64_t i = row % S;
    const int64_t h = (row / S) % H;
    const int64_t b = row / (S * H);
    const float* base = qkvRot_BS3D + b * S * row_width;
    const float* q = base + i * row_width + h * hd;
    float* p = probs_BHSS + row * S;

    float max_score = -INFINITY;
    for (int64_t j = 0; j <= i; ++j) {
      p[j] = dot16(q, base + j * row_width + D + h * hd, hd) * scale;
      max_score = std::max(max_score, p[j]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j <= i; ++j) {
      p[j] = exp_approx(p[j] - max_score);
      sum += p[j];
    }
    const float inverse = 1.0f / sum;
    for (int64_t j = 0; j <= i; ++j) p[j] *= inverse;
    for (int64_t j = i + 1; j < S; ++j) p[j] = 0.0f;

    float* out = out_BSD + (b * S + i) * D + h * hd;
    for (int64_t d = 0; d < hd; ++d) out[d] = 0.0f;
    for (int64_t j = 0; j <= i; ++j) {
      const float* v = base + j * row_width + 2 * D + h * hd;
      for (int64_t d = 0; d < hd; ++d) out[d] += p[j] * v[d];
    }
  });
}

void attention_backward(float* dqkv_BS3D, const float* dout_BSD, const float* qkvRot_BS3D, const float* probs_BHSS,
                        int64_t B, int64_t S, int64_t D, int64_t H, double rope_theta) {
  check_sizes(B, S, D, H, rope_theta);
  const int64_t hd = D / H;
  const int64_t row_width = 3 * D;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const RopeTable rope(S, hd, rope_theta);
  // One row of dP (the gradient of the probabilities) per thread.
  std::vector<float> dprobs(static_cast<size_t>(num_threads()) * S);

  // NOTE: only B*H work items, so backward leaves threads idle when B*H is
  // smaller than the thread count (for example B=1 with few heads).
  parallel_for(B * H, 4 * S * S * hd, [&](int64_t pair) {
    const int64_t h = pair % H;
    const int64_t b = pair / H;
    const float* base = qkvRot_BS3D + b * S * row_width;
    float* dbase = dqkv_BS3D + b * S * row_width;
    float* dp = dprobs.data() + static_cast<int64_t>(omp_get_thread_num()) * S;

    for (int64_t s = 0; s < S; ++s)
      for (int64_t part = 0; part < 3; ++part)
        for (int64_t d = 0; d < hd; ++d) dbase[s * row_width + part * D + h * hd + d] = 0.0f;

    for (int64_t i = 0; i < S; ++i) {
      const float* p = probs_BHSS + (pair * S + i) * S;
      const float* dout = dout_BSD + (b * S + i) * D + h * hd;
      const float* q = base + i * row_width + h * hd;
      float* dq = dbase + i * row_width + h * hd;

      // dP_ij = <dout_i, v_j>, and the softmax gradient needs sum_j P_ij dP_ij.
      float weighted = 0.0f;
      for (int64_t j = 0; j <= i; ++j) {
        dp[j] = dot16(dout, base + j * row_width + 2 * D + h * hd, hd);
        weighted += p[j] * dp[j];
      }

      for (int64_t j = 0; j <= i; ++j) {
        const float dscore = p[j] * (dp[j] - weighted) * scale;
        const float* k = base + j * row_width + D + h * hd;
        float* dk = dbase + j * row_width + D + h * hd;
        float* dv = dbase + j * row_width + 2 * D + h * hd;
        for (int64_t d = 0; d < hd; ++d) {
          dq[d] += dscore * k[d];
          dk[d] += dscore * q[d];
          dv[d] += p[j] * dout[d];
        }
      }
    }

    for (int64_t s = 0; s < S; ++s) {
      rotate_back(dbase + s * row_width + h * hd, rope, s);
      rotate_back(dbase + s * row_width + D + h * hd, rope, s);
    }
  });
}

}  // namespace snax

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
// Both directions run in parallel over (batch, head) pairs. Each pair first
// copies its heads into zero-padded panels in thread-local scratch. The panel
// that a kernel streams over keys (K in forward, V in backward) is stored
// transposed. The kernels then take blocks of kRows query or key rows and
// work on 16-float vectors. Scores and dP stream over 32 keys at a time, and
// P*V, dS*K, dS^T*Q and P^T*dout stream over 32 columns of the head. Every
// output element is a sum in a fixed order on one thread, so results do not
// depend on the thread count.
//
// The plain row-at-a-time form stays below as attention_*_reference, for
// tests and benchmarks.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
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

// ------------------------------------------------------------ fast kernels

// 16 floats. GCC lowers it to one AVX-512 register or two AVX2 registers.
using Vec16 = float __attribute__((vector_size(64)));

constexpr int64_t kLanes = 16;
// Panel columns are padded to a multiple of kBlock, the width of one step of
// the kernels below (two vectors).
constexpr int64_t kBlock = 2 * kLanes;
// Query or key rows handled together, so that each panel load feeds kRows
// rows of FMAs.
constexpr int kRows = 4;

inline int64_t round_up(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

inline Vec16 load16(const float* p) {
  Vec16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store16(float* p, Vec16 v) { std::memcpy(p, &v, sizeof v); }

// out[r][j] = sum over d < hd of x[r][d] * panel_t[d][j], for r < R and j in
// [0, key_end). key_end and panel_stride are multiples of kBlock, and out
// rows must have room for key_end values.
template <int R>
void rows_dot_panel_t(float* out, int64_t out_stride, const float* x, int64_t x_stride, int64_t hd,
                      const float* panel_t, int64_t panel_stride, int64_t key_end) {
  for (int64_t j = 0; j < key_end; j += kBlock) {
    Vec16 acc[R][2] = {};
    for (int64_t d = 0; d < hd; ++d) {
      const Vec16 k0 = load16(panel_t + d * panel_stride + j);
      const Vec16 k1 = load16(panel_t + d * panel_stride + j + kLanes);
      for (int r = 0; r < R; ++r) {
        const float xv = x[r * x_stride + d];
        acc[r][0] += xv * k0;
        acc[r][1] += xv * k1;
      }
    }
    for (int r = 0; r < R; ++r) {
      store16(out + r * out_stride + j, acc[r][0]);
      store16(out + r * out_stride + j + kLanes, acc[r][1]);
    }
  }
}

// The rows of the panel that output row r sums over: [begin + r*begin_step,
// end + r*end_step). Steps of 1 describe the causal triangle.
struct RowRange {
  int64_t begin, end;
  int begin_step, end_step;
};

// out[r][c] = sum over t in the range of row r of coef[r*coef_row_stride +
// t*coef_col_stride] * panel[t][c], for r < R and c < width, summed in
// ascending t. panel_stride is a multiple of kBlock and the padding columns of
// the panel are readable.
template <int R>
void rows_times_panel(float* out, int64_t out_stride, int64_t width, const float* coef, int64_t coef_row_stride,
                      int64_t coef_col_stride, const float* panel, int64_t panel_stride, RowRange range) {
  const int64_t common_begin = range.begin + (R - 1) * range.begin_step;
  const int64_t common_end = range.end;
  for (int64_t c = 0; c < width; c += kBlock) {
    Vec16 acc[R][2] = {};
    auto add = [&](int r, int64_t t) {
      const float a = coef[r * coef_row_stride + t * coef_col_stride];
      const float* row = panel + t * panel_stride + c;
      acc[r][0] += a * load16(row);
      acc[r][1] += a * load16(row + kLanes);
    };
    for (int r = 0; r < R; ++r)
      for (int64_t t = range.begin + r * range.begin_step; t < std::min(common_begin, common_end); ++t) add(r, t);
    for (int64_t t = common_begin; t < common_end; ++t)
      for (int r = 0; r < R; ++r) add(r, t);
    for (int r = 0; r < R; ++r)
      for (int64_t t = std::max(common_end, common_begin); t < range.end + r * range.end_step; ++t) add(r, t);

    for (int r = 0; r < R; ++r) {
      float* dst = out + r * out_stride + c;
      if (width - c >= kBlock) {
        store16(dst, acc[r][0]);
        store16(dst + kLanes, acc[r][1]);
      } else {
        float tail[kBlock];
        store16(tail, acc[r][0]);
        store16(tail + kLanes, acc[r][1]);
        std::memcpy(dst, tail, static_cast<size_t>(width - c) * sizeof(float));
      }
    }
  }
}

// Calls rows_times_panel with R = rows (1..kRows).
void rows_times_panel_n(int rows, float* out, int64_t out_stride, int64_t width, const float* coef,
                        int64_t coef_row_stride, int64_t coef_col_stride, const float* panel, int64_t panel_stride,
                        RowRange range) {
  switch (rows) {
    case 4: return rows_times_panel<4>(out, out_stride, width, coef, coef_row_stride, coef_col_stride, panel, panel_stride, range);
    case 3: return rows_times_panel<3>(out, out_stride, width, coef, coef_row_stride, coef_col_stride, panel, panel_stride, range);
    case 2: return rows_times_panel<2>(out, out_stride, width, coef, coef_row_stride, coef_col_stride, panel, panel_stride, range);
    default: return rows_times_panel<1>(out, out_stride, width, coef, coef_row_stride, coef_col_stride, panel, panel_stride, range);
  }
}

// Calls rows_dot_panel_t with R = rows (1..kRows).
void rows_dot_panel_t_n(int rows, float* out, int64_t out_stride, const float* x, int64_t x_stride, int64_t hd,
                        const float* panel_t, int64_t panel_stride, int64_t key_end) {
  switch (rows) {
    case 4: return rows_dot_panel_t<4>(out, out_stride, x, x_stride, hd, panel_t, panel_stride, key_end);
    case 3: return rows_dot_panel_t<3>(out, out_stride, x, x_stride, hd, panel_t, panel_stride, key_end);
    case 2: return rows_dot_panel_t<2>(out, out_stride, x, x_stride, hd, panel_t, panel_stride, key_end);
    default: return rows_dot_panel_t<1>(out, out_stride, x, x_stride, hd, panel_t, panel_stride, key_end);
  }
}

// Lane sums and maxima, combined as a tree of halves in a fixed order.
inline float sum_lanes(Vec16 v) {
  float lanes[kLanes];
  store16(lanes, v);
  for (int64_t width = kLanes / 2; width >= 1; width /= 2)
    for (int64_t lane = 0; lane < width; ++lane) lanes[lane] += lanes[lane + width];
  return lanes[0];
}

inline float max_lanes(Vec16 v) {
  float lanes[kLanes];
  store16(lanes, v);
  for (int64_t width = kLanes / 2; width >= 1; width /= 2)
    for (int64_t lane = 0; lane < width; ++lane) lanes[lane] = std::max(lanes[lane], lanes[lane + width]);
  return lanes[0];
}

// Replaces the raw scores p[0..i] with softmax(p * scale). The values after
// p[i] are left as they are. The max and the sum take kLanes partial results
// (one per lane of the full vectors, the last few values added one by one)
// and combine them in a fixed order.
void softmax_causal_row(float* p, int64_t i, float scale) {
  const int64_t count = i + 1;
  const int64_t full = count / kLanes * kLanes;
  float max_score = -INFINITY;
  if (full > 0) {
    Vec16 lanes = load16(p);
    for (int64_t j = kLanes; j < full; j += kLanes) {
      const Vec16 x = load16(p + j);
      lanes = lanes > x ? lanes : x;
    }
    max_score = max_lanes(lanes);
  }
  for (int64_t j = full; j < count; ++j) max_score = std::max(max_score, p[j]);
  max_score *= scale;

  for (int64_t j = 0; j < count; ++j) p[j] = exp_approx(p[j] * scale - max_score);
  Vec16 lanes = {};
  for (int64_t j = 0; j < full; j += kLanes) lanes += load16(p + j);
  float sum = sum_lanes(lanes);
  for (int64_t j = full; j < count; ++j) sum += p[j];
  const float inverse = 1.0f / sum;
  for (int64_t j = 0; j < count; ++j) p[j] *= inverse;
}

// Copies S rows of hd floats (source rows stride apart) into panel rows of
// padded_hd floats, zero-filling the padding.
void pack_rows(float* panel, int64_t padded_hd, const float* src, int64_t stride, int64_t S, int64_t hd) {
  for (int64_t s = 0; s < S; ++s) {
    float* dst = panel + s * padded_hd;
    std::memcpy(dst, src + s * stride, static_cast<size_t>(hd) * sizeof(float));
    std::fill(dst + hd, dst + padded_hd, 0.0f);
  }
}

// Copies S rows of hd floats transposed into hd panel rows of padded_S
// floats, zero-filling the padding.
void pack_transposed(float* panel_t, int64_t padded_S, const float* src, int64_t stride, int64_t S, int64_t hd) {
  for (int64_t d = 0; d < hd; ++d) {
    float* dst = panel_t + d * padded_S;
    for (int64_t s = 0; s < S; ++s) dst[s] = src[s * stride + d];
    std::fill(dst + S, dst + padded_S, 0.0f);
  }
}

// Thread-local scratch, allocated before the parallel region so that no
// allocation can throw inside it.
struct Scratch {
  std::vector<float> data;
  int64_t per_thread;

  explicit Scratch(int64_t floats_per_thread)
      : data(static_cast<size_t>(num_threads()) * floats_per_thread), per_thread(floats_per_thread) {}

  float* for_this_thread() { return data.data() + static_cast<int64_t>(omp_get_thread_num()) * per_thread; }
};

}  // namespace

void attention_forward(float* out_BSD, float* qkvRot_BS3D, float* probs_BHSS, const float* qkv_BS3D, int64_t B,
                       int64_t S, int64_t D, int64_t H, double rope_theta) {
  check_sizes(B, S, D, H, rope_theta);
  const int64_t hd = D / H;
  const int64_t row_width = 3 * D;
  const int64_t padded_S = round_up(std::max<int64_t>(S, 1), kBlock);
  const int64_t padded_hd = round_up(hd, kBlock);
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

  // Per thread: K^T (hd x padded_S), V (S x padded_hd), kRows score rows.
  Scratch scratch(hd * padded_S + S * padded_hd + kRows * padded_S);

  parallel_for(B * H, 2 * S * S * hd, [&](int64_t pair) {
    const int64_t h = pair % H;
    const int64_t b = pair / H;
    const float* base = qkvRot_BS3D + b * S * row_width;
    float* k_t = scratch.for_this_thread();
    float* v = k_t + hd * padded_S;
    float* scores = v + S * padded_hd;
    pack_transposed(k_t, padded_S, base + D + h * hd, row_width, S, hd);
    pack_rows(v, padded_hd, base + 2 * D + h * hd, row_width, S, hd);

    for (int64_t i0 = 0; i0 < S; i0 += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, S - i0));
      const int64_t key_end = round_up(i0 + rows, kBlock);
      rows_dot_panel_t_n(rows, scores, padded_S, base + i0 * row_width + h * hd, row_width, hd, k_t, padded_S,
                         key_end);

      // Softmax of each row over keys j <= i.
      for (int r = 0; r < rows; ++r) {
        const int64_t i = i0 + r;
        float* p = scores + r * padded_S;
        softmax_causal_row(p, i, scale);

        float* saved = probs_BHSS + (pair * S + i) * S;
        std::memcpy(saved, p, static_cast<size_t>(i + 1) * sizeof(float));
        std::fill(saved + i + 1, saved + S, 0.0f);
      }

      // out_i = sum over j <= i of P_ij v_j.
      rows_times_panel_n(rows, out_BSD + (b * S + i0) * D + h * hd, D, hd, scores, padded_S, 1, v, padded_hd,
                         RowRange{0, i0 + 1, 0, 1});
    }
  });
}

void attention_backward(float* dqkv_BS3D, const float* dout_BSD, const float* qkvRot_BS3D, const float* probs_BHSS,
                        int64_t B, int64_t S, int64_t D, int64_t H, double rope_theta) {
  check_sizes(B, S, D, H, rope_theta);
  const int64_t hd = D / H;
  const int64_t row_width = 3 * D;
  const int64_t padded_S = round_up(std::max<int64_t>(S, 1), kBlock);
  const int64_t padded_hd = round_up(hd, kBlock);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const RopeTable rope(S, hd, rope_theta);

  // Per thread: V^T (hd x padded_S), then K, Q and dout (S x padded_hd each),
  // then dS (S x padded_S).
  // NOTE: dS takes S*S floats per thread (16 MiB at S = 2048); a long-context
  // recipe would want dS in query blocks instead.
  Scratch scratch(hd * padded_S + 3 * S * padded_hd + S * padded_S);

  // NOTE: only B*H work items, so backward leaves threads idle when B*H is
  // smaller than the thread count (for example B=1 with few heads).
  parallel_for(B * H, 4 * S * S * hd, [&](int64_t pair) {
    const int64_t h = pair % H;
    const int64_t b = pair / H;
    const float* base = qkvRot_BS3D + b * S * row_width;
    const float* probs = probs_BHSS + pair * S * S;
    const float* dout = dout_BSD + b * S * D + h * hd;
    float* dbase = dqkv_BS3D + b * S * row_width;
    float* v_t = scratch.for_this_thread();
    float* k = v_t + hd * padded_S;
    float* q = k + S * padded_hd;
    float* dout_panel = q + S * padded_hd;
    float* dscores = dout_panel + S * padded_hd;
    pack_transposed(v_t, padded_S, base + 2 * D + h * hd, row_width, S, hd);
    pack_rows(k, padded_hd, base + D + h * hd, row_width, S, hd);
    pack_rows(q, padded_hd, base + h * hd, row_width, S, hd);
    pack_rows(dout_panel, padded_hd, dout, D, S, hd);

    for (int64_t i0 = 0; i0 < S; i0 += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, S - i0));
      const int64_t key_end = round_up(i0 + rows, kBlock);
      // dP_ij = <dout_i, v_j>.
      rows_dot_panel_t_n(rows, dscores + i0 * padded_S, padded_S, dout + i0 * D, D, hd, v_t, padded_S, key_end);

      // dS_ij = P_ij (dP_ij - sum_j P_ij dP_ij) * scale, for j <= i.
      for (int r = 0; r < rows; ++r) {
        const int64_t i = i0 + r;
        const float* p = probs + i * S;
        float* ds = dscores + i * padded_S;
        float lanes[kLanes] = {};
        int64_t j = 0;
        for (; j + kLanes <= i + 1; j += kLanes)
          for (int64_t lane = 0; lane < kLanes; ++lane) lanes[lane] += p[j + lane] * ds[j + lane];
        for (; j <= i; ++j) lanes[j % kLanes] += p[j] * ds[j];
        float weighted = 0.0f;
        for (int64_t lane = 0; lane < kLanes; ++lane) weighted += lanes[lane];
        for (j = 0; j <= i; ++j) ds[j] = p[j] * (ds[j] - weighted) * scale;
      }

      // dq_i = sum over j <= i of dS_ij k_j.
      rows_times_panel_n(rows, dbase + i0 * row_width + h * hd, row_width, hd, dscores + i0 * padded_S, padded_S, 1,
                         k, padded_hd, RowRange{0, i0 + 1, 0, 1});
    }

    // dk_j = sum over i >= j of dS_ij q_i, and dv_j = sum over i >= j of P_ij dout_i.
    for (int64_t j0 = 0; j0 < S; j0 += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, S - j0));
      const RowRange below_diagonal{j0, S, 1, 0};
      rows_times_panel_n(rows, dbase + j0 * row_width + D + h * hd, row_width, hd, dscores + j0, 1, padded_S, q,
                         padded_hd, below_diagonal);
      rows_times_panel_n(rows, dbase + j0 * row_width + 2 * D + h * hd, row_width, hd, probs + j0, 1, S, dout_panel,
                         padded_hd, below_diagonal);
    }

    for (int64_t s = 0; s < S; ++s) {
      rotate_back(dbase + s * row_width + h * hd, rope, s);
      rotate_back(dbase + s * row_width + D + h * hd, rope, s);
    }
  });
}

// --------------------------------------------------------------- reference

void attention_forward_reference(float* out_BSD, float* qkvRot_BS3D, float* probs_BHSS, const float* qkv_BS3D, int64_t B,
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

void attention_backward_reference(float* dqkv_BS3D, const float* dout_BSD, const float* qkvRot_BS3D, const float* probs_BHSS,
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

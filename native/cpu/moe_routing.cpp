// Routing metadata and token rounding (see moe_routing.h for the layout).
//
// Inputs: topk_expert_TK, topk_score_TK (renormalised), gate_score_TK,
// probs_TE (full softmax, for added pairs). No backward: the gradients of
// the gates are handled by router_backward through pair_slot_P.
#include "cpu/moe_routing.h"

#include <algorithm>
#include <vector>

#include "cpu/common.h"

namespace snax {

namespace {

struct Candidate {
  float key;
  int32_t token;
  int32_t slot;  // -1 for a token that did not choose the expert
};

// Higher key first, then the lower token index.
// NOTE: with K = 1 every renormalised score is 1, so token-choice tokens are
// ranked by token index alone and `down` drops the highest indices first.
bool ranks_before(const Candidate& a, const Candidate& b) {
  if (a.key != b.key) return a.key > b.key;
  return a.token < b.token;
}

double padding_waste(const std::vector<int64_t>& counts, int64_t tile) {
  int64_t total = 0, padded = 0;
  for (int64_t f : counts) {
    total += f;
    padded += (f + tile - 1) / tile * tile;
  }
  return total == 0 ? 0.0 : static_cast<double>(padded) / static_cast<double>(total) - 1.0;
}

}  // namespace

int64_t rounding_target(MoeRounding policy, int64_t f, int64_t tile) {
  int64_t quotient = f / tile, remainder = f % tile;
  switch (policy) {
    case MoeRounding::kNone:
      return f;
    case MoeRounding::kUp:
      return (remainder > 0 ? quotient + 1 : quotient) * tile;
    case MoeRounding::kDown:
      return quotient * tile;
    case MoeRounding::kNearest: {
      // Round half to even.
      bool up = 2 * remainder > tile || (2 * remainder == tile && quotient % 2 == 1);
      return (up ? quotient + 1 : quotient) * tile;
    }
  }
  return f;
}

void build_routing(Routing& routing, RoutingStats& stats, MemoryMeter& keep, MemoryMeter& maps,
                   const float* gate_score_TK, const float* probs_TE, MoeRounding policy, int64_t tile) {
  const int64_t T = routing.tokens, E = routing.experts, K = routing.top_k;
  SNAX_CHECK(tile >= 1, "INVALID_ARGUMENT", "tile must be >= 1, got " << tile);
  const int32_t* expert_TK = routing.topk_expert_TK.data();
  const float* score_TK = routing.topk_score_TK.data();

  // Token-choice candidates of each expert, in token order.
  std::vector<std::vector<Candidate>> chosen(E);
  std::vector<int64_t> topk_count(E, 0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) {
      int32_t e = expert_TK[t * K + k];
      chosen[e].push_back({score_TK[t * K + k], static_cast<int32_t>(t), static_cast<int32_t>(k)});
      ++topk_count[e];
    }

  // Each expert keeps its first target-count tokens of the ranking.
  std::vector<std::vector<Candidate>> kept(E);
  std::vector<char> is_chosen(T, 0);
  std::vector<int64_t> final_count(E, 0);
  stats = RoutingStats();
  for (int64_t e = 0; e < E; ++e) {
    std::vector<Candidate>& list = chosen[e];
    const int64_t f = static_cast<int64_t>(list.size());
    const int64_t target = std::min<int64_t>(rounding_target(policy, f, tile), T);
    if (target <= f) {
      std::sort(list.begin(), list.end(), ranks_before);
      list.resize(target);
      stats.dropped += f - target;
      kept[e] = std::move(list);
    } else {
      SNAX_CHECK(probs_TE != nullptr, "INTERNAL", "token rounding needs the softmax probabilities");
      for (const Candidate& c : list) is_chosen[c.token] = 1;
      std::vector<Candidate> others;
      others.reserve(T - f);
      for (int64_t t = 0; t < T; ++t)
        if (!is_chosen[t]) others.push_back({probs_TE[t * E + e], static_cast<int32_t>(t), -1});
      for (const Candidate& c : list) is_chosen[c.token] = 0;
      const int64_t take = target - f;
      std::partial_sort(others.begin(), others.begin() + take, others.end(), ranks_before);
      others.resize(take);
      stats.added += take;
      kept[e] = std::move(list);
      kept[e].insert(kept[e].end(), others.begin(), others.end());
    }
    std::sort(kept[e].begin(), kept[e].end(), [](const Candidate& a, const Candidate& b) { return a.token < b.token; });
    final_count[e] = static_cast<int64_t>(kept[e].size());
  }

  // Expert-grouped pairs.
  int64_t P = 0;
  for (int64_t e = 0; e < E; ++e) P += final_count[e];
  routing.pairs = P;
  routing.expert_offset_E1 = Buffer<int32_t>(keep, E + 1);
  routing.pair_token_P = Buffer<int32_t>(keep, P);
  routing.pair_slot_P = Buffer<int32_t>(keep, P);
  routing.pair_gate_P = Buffer<float>(keep, P);
  int64_t pair = 0;
  for (int64_t e = 0; e < E; ++e) {
    routing.expert_offset_E1[e] = static_cast<int32_t>(pair);
    for (const Candidate& c : kept[e]) {
      routing.pair_token_P[pair] = c.token;
      routing.pair_slot_P[pair] = c.slot;
      routing.pair_gate_P[pair] = c.slot >= 0 ? gate_score_TK[c.token * K + c.slot] : probs_TE[c.token * E + e];
      ++pair;
    }
  }
  routing.expert_offset_E1[E] = static_cast<int32_t>(P);

  stats.tokens_without_expert = build_token_maps(routing, maps);
  stats.padding_waste = padding_waste(final_count, tile);
  stats.padding_waste_unrounded = padding_waste(topk_count, tile);
}

int64_t build_token_maps(Routing& routing, MemoryMeter& meter) {
  const int64_t T = routing.tokens, E = routing.experts, P = routing.pairs;
  routing.pair_expert_P = Buffer<int32_t>(meter, P);
  for (int64_t e = 0; e < E; ++e)
    for (int64_t p = routing.offset(e); p < routing.offset(e) + routing.count(e); ++p)
      routing.pair_expert_P[p] = static_cast<int32_t>(e);

  // A counting sort of the pairs by token keeps each token's pairs in expert order.
  routing.token_offset_T1 = Buffer<int32_t>(meter, T + 1, 0);
  routing.token_pair_P = Buffer<int32_t>(meter, P);
  int32_t* token_offset = routing.token_offset_T1.data();
  for (int64_t p = 0; p < P; ++p) ++token_offset[routing.pair_token_P[p] + 1];
  int64_t without_pair = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (token_offset[t + 1] == 0) ++without_pair;
    token_offset[t + 1] += token_offset[t];
  }
  std::vector<int32_t> cursor(token_offset, token_offset + T);
  for (int64_t p = 0; p < P; ++p) routing.token_pair_P[cursor[routing.pair_token_P[p]]++] = static_cast<int32_t>(p);
  return without_pair;
}

void release_token_maps(Routing& routing) {
  routing.pair_expert_P.release();
  routing.token_offset_T1.release();
  routing.token_pair_P.release();
}

}  // namespace snax

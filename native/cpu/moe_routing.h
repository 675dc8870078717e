// Routing metadata and token rounding: which (token, expert) pairs exist
// after top-K and rounding, their gates, and the maps between the
// expert-grouped pair order and the tokens. Computed once per step.
//
// Shapes: T tokens, E experts, K experts per token, P routed pairs (T*K
// without rounding), M the rounding tile.
//
// Pair order is expert-grouped: the pairs of expert e are
// [expert_offset_E1[e], expert_offset_E1[e+1]), sorted by token index.
// Each token's pairs, in token_pair_P[token_offset_T1[t] ..], are sorted by
// expert index, which fixes the order of every per-token sum.
#pragma once

#include <cstdint>

#include "cpu/moe_buffer.h"

namespace snax {

enum class MoeRounding { kNone = 0, kUp = 1, kDown = 2, kNearest = 3 };

// Kept for backward: the top-K choice, expert_offset_E1 and the pair_token,
// pair_slot and pair_gate arrays (20 bytes per pair when P = T*K). The
// token maps (pair_expert_P, token_offset_T1, token_pair_P) follow from
// those, so build_token_maps rebuilds them when a pass needs them.
struct Routing {
  int64_t tokens = 0, experts = 0, top_k = 0, pairs = 0;
  Buffer<int32_t> topk_expert_TK;  // chosen experts, best first
  Buffer<float> topk_score_TK;     // softmax over the K chosen logits
  Buffer<int32_t> expert_offset_E1;
  Buffer<int32_t> pair_token_P;
  Buffer<int32_t> pair_slot_P;  // k of a token-choice pair, -1 for a pair added by rounding
  Buffer<float> pair_gate_P;

  // Token maps, derived from expert_offset_E1 and pair_token_P.
  Buffer<int32_t> pair_expert_P;
  Buffer<int32_t> token_offset_T1;
  Buffer<int32_t> token_pair_P;

  int64_t count(int64_t e) const { return expert_offset_E1[e + 1] - expert_offset_E1[e]; }
  int64_t offset(int64_t e) const { return expert_offset_E1[e]; }
};

struct RoutingStats {
  int64_t dropped = 0;               // token-choice pairs removed by rounding
  int64_t added = 0;                 // pairs added by rounding
  int64_t tokens_without_expert = 0;
  double padding_waste = 0;          // sum ceil(f/M)*M / sum f - 1, final counts
  double padding_waste_unrounded = 0;  // the same with the top-K counts
};

// The target count of an expert with f token-choice tokens under a policy.
int64_t rounding_target(MoeRounding policy, int64_t f, int64_t tile);

// Builds the pairs from the top-K choice (routing.topk_* must be filled).
// Each expert ranks its token-choice tokens by renormalised score, then all
// other tokens by full-softmax probability (probs_TE), ties to the lower
// token index, and keeps the first target-count tokens (all T when the target
// exceeds T). Token-choice pairs get gate_score_TK as gate, added pairs the
// raw softmax probability. probs_TE is read only by `up` and `nearest`.
// Every buffer is counted by `meter`.
// The kept arrays are counted by `keep`, the token maps by `maps`.
void build_routing(Routing& routing, RoutingStats& stats, MemoryMeter& keep, MemoryMeter& maps,
                   const float* gate_score_TK, const float* probs_TE, MoeRounding policy, int64_t tile);

// Builds the token maps from expert_offset_E1 and pair_token_P, counted by
// `meter`. Returns the number of tokens without a pair.
int64_t build_token_maps(Routing& routing, MemoryMeter& meter);

// Frees the token maps. Call it before their meter goes away.
void release_token_maps(Routing& routing);

// Releases the token maps when it goes out of scope, so that a pass that
// rebuilt them against a local meter cannot leave them pointing at it.
class TokenMapsScope {
 public:
  explicit TokenMapsScope(Routing& routing) : routing_(routing) {}
  TokenMapsScope(const TokenMapsScope&) = delete;
  TokenMapsScope& operator=(const TokenMapsScope&) = delete;
  ~TokenMapsScope() { release_token_maps(routing_); }

 private:
  Routing& routing_;
};

}  // namespace snax

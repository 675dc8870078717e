// The dense transformer ops and the optimizer: declarations of the kernels
// in embedding.cpp, rmsnorm.cpp, linear.cpp, attention.cpp, swiglu.cpp,
// cross_entropy.cpp, adamw.cpp and vector.cpp.
//
// Shape legend: T tokens, D model width, V vocabulary, I input width,
// O output width, N SwiGLU width, B batch, S sequence length, H heads.
// All buffers are float32 (token ids int32), row-major. Argument order:
// outputs, saved tensors, inputs, weights, sizes. "=" marks a buffer that is
// written, "+=" one that is accumulated into.
//
// Every kernel checks its sizes and values before any parallel region and
// throws snax::Error (INVALID_ARGUMENT, NON_FINITE) on bad input. Results are
// bitwise identical for any thread count.
#pragma once

#include <cstdint>

namespace snax {

// --------------------------------------------------------------- embedding

// out_TD[t] = wte_VD[tokens_T[t]].
void embedding_forward(float* out_TD, const int32_t* tokens_T, const float* wte_VD, int64_t T, int64_t D, int64_t V);

// dwte_VD[tokens_T[t]] += dout_TD[t], summed in token order for every row.
void embedding_backward(float* dwte_VD, const float* dout_TD, const int32_t* tokens_T, int64_t T, int64_t D,
                        int64_t V);

// ----------------------------------------------------------------- rmsnorm

// out_TD = x_TD * rstd_T * weight_D with rstd = 1/sqrt(mean(x^2) + eps).
void rmsnorm_forward(float* out_TD, float* rstd_T, const float* x_TD, const float* weight_D, int64_t T, int64_t D,
                     float eps);

// Accumulates the RMSNorm gradients into dx_TD (+=) and dweight_D (+=). It
// needs x_TD and rstd_T from forward.
void rmsnorm_backward(float* dx_TD, float* dweight_D, const float* dout_TD, const float* x_TD, const float* rstd_T,
                      const float* weight_D, int64_t T, int64_t D);

// ------------------------------------------------------------------ linear

// out_TO = x_TI * w_OI^T.
void linear_forward(float* out_TO, const float* x_TI, const float* w_OI, int64_t T, int64_t I, int64_t O);

// dx_TI = dout_TO * w_OI (skipped when dx_TI is null), dw_OI += dout_TO^T * x_TI.
void linear_backward(float* dx_TI, float* dw_OI, const float* dout_TO, const float* x_TI, const float* w_OI, int64_t T,
                     int64_t I, int64_t O);

// --------------------------------------------------------------- attention

// Causal multi-head attention with RoPE on q and k. qkv_BS3D contains q, k and
// v side by side per token, and head h uses columns h*D/H..(h+1)*D/H of each.
// Saves qkvRot_BS3D (roped q and k, plain v) and probs_BHSS (the softmax,
// zero above the diagonal).
void attention_forward(float* out_BSD, float* qkvRot_BS3D, float* probs_BHSS, const float* qkv_BS3D, int64_t B,
                       int64_t S, int64_t D, int64_t H, double rope_theta);

// dqkv_BS3D = gradient with respect to the un-roped qkv.
void attention_backward(float* dqkv_BS3D, const float* dout_BSD, const float* qkvRot_BS3D, const float* probs_BHSS,
                        int64_t B, int64_t S, int64_t D, int64_t H, double rope_theta);

// The plain row-at-a-time forms of attention_forward and attention_backward,
// with the same arguments and results up to float rounding. Tests and
// benchmarks compare the fast forms against them.
void attention_forward_reference(float* out_BSD, float* qkvRot_BS3D, float* probs_BHSS, const float* qkv_BS3D,
                                 int64_t B, int64_t S, int64_t D, int64_t H, double rope_theta);
void attention_backward_reference(float* dqkv_BS3D, const float* dout_BSD, const float* qkvRot_BS3D,
                                  const float* probs_BHSS, int64_t B, int64_t S, int64_t D, int64_t H,
                                  double rope_theta);

// ------------------------------------------------------------------ swiglu

// out_TN[t, j] = silu(h_T2N[t, 2j]) * h_T2N[t, 2j + 1] (gate and up interleaved).
void swiglu_forward(float* out_TN, const float* h_T2N, int64_t T, int64_t N);

// dh_T2N = gradient with respect to h, from h_T2N saved by forward.
void swiglu_backward(float* dh_T2N, const float* dout_TN, const float* h_T2N, int64_t T, int64_t N);

// ----------------------------------------------------------- cross entropy

// losses_T[t] = logsumexp(logits_TV[t]) - logits_TV[t, targets_T[t]], and,
// when dlogits_TV is not null, dlogits_TV = (softmax - onehot) * grad_scale.
// Returns the sum of losses_T accumulated in double in token order.
double cross_entropy(float* losses_T, float* dlogits_TV, const float* logits_TV, const int32_t* targets_T, int64_t T,
                     int64_t V, float grad_scale);

// ------------------------------------------------------------------- adamw

// One AdamW step (decoupled weight decay, bias-corrected, step counts from 1)
// on n parameters: m, v and param are updated in place.
void adamw_step(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                float eps, float weight_decay, int64_t step);

// ------------------------------------------------------------------ vector

// Sum of squares accumulated in double over fixed-size chunks, so the result
// does not depend on the thread count.
double sum_squares(const float* x, int64_t n);

// x *= factor.
void scale_in_place(float* x, int64_t n, float factor);

// a += b.
void add_in_place(float* a, const float* b, int64_t n);

}  // namespace snax

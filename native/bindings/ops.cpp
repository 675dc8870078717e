// Bindings for the dense transformer ops and the optimizer (cpu/ops.h).
//
// Each function unpacks its arguments in the documented order (outputs,
// saved tensors, inputs, weights, sizes), checks every length again and runs
// the kernel. src/native/ops.ts is the typed face that checks first.
#include <napi.h>

#include "bindings/napi_util.h"
#include "cpu/ops.h"

namespace snax_napi {

namespace {

// A Float32Array argument that may be null (then data is nullptr).
FloatArg optional_float_array(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (index < info.Length() && (info[index].IsNull() || info[index].IsUndefined())) return {nullptr, 0};
  return float_array(info, index, name);
}

// An Int32Array argument with exactly `expected` elements.
const int32_t* int32_of_size(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t expected) {
  int64_t size = 0;
  const int32_t* data = int32_array(info, index, name, &size);
  if (size != expected) {
    throw_js(info.Env(), "SHAPE_MISMATCH",
             std::string(name) + " has " + std::to_string(size) + " elements, expected " + std::to_string(expected));
  }
  return data;
}

// embeddingForward(out_TD, tokens_T, wte_VD, T, D, V)
Napi::Value embedding_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    int64_t T = integer(info, 3, "T"), D = integer(info, 4, "D"), V = integer(info, 5, "V");
    FloatArg out = float_array(info, 0, "out");
    const int32_t* tokens = int32_of_size(info, 1, "tokens", T);
    FloatArg wte = float_array(info, 2, "wte");
    expect_size(env, out, T * D, "out");
    expect_size(env, wte, V * D, "wte");
    snax::embedding_forward(out.data, tokens, wte.data, T, D, V);
    return env.Undefined();
  });
}

// embeddingBackward(dwte_VD, dout_TD, tokens_T, T, D, V)
Napi::Value embedding_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    int64_t T = integer(info, 3, "T"), D = integer(info, 4, "D"), V = integer(info, 5, "V");
    FloatArg dwte = float_array(info, 0, "dwte");
    FloatArg dout = float_array(info, 1, "dout");
    const int32_t* tokens = int32_of_size(info, 2, "tokens", T);
    expect_size(env, dwte, V * D, "dwte");
    expect_size(env, dout, T * D, "dout");
    snax::embedding_backward(dwte.data, dout.data, tokens, T, D, V);
    return env.Undefined();
  });
}

// rmsnormForward(out_TD, rstd_T, x_TD, weight_D, T, D, eps)
Napi::Value rmsnorm_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    int64_t T = integer(info, 4, "T"), D = integer(info, 5, "D");
    double eps = number(info, 6, "eps");
    FloatArg out = float_array(info, 0, "out"), rstd = float_array(info, 1, "rstd");
    FloatArg x = float_array(info, 2, "x"), weight = float_array(info, 3, "weight");
    expect_size(env, out, T * D, "out");
    expect_size(env, rstd, T, "rstd");
    expect_size(env, x, T * D, "x");
    expect_size(env, weight, D, "weight");
    snax::rmsnorm_forward(out.data, rstd.data, x.data, weight.data, T, D, static_cast<float>(eps));
    return env.Undefined();
  });
}

// rmsnormBackward(dx_TD, dweight_D, dout_TD, x_TD, rstd_T, weight_D, T, D)
Napi::Value rmsnorm_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    int64_t T = integer(info, 6, "T"), D = integer(info, 7, "D");
    FloatArg dx = float_array(info, 0, "dx"), dweight = float_array(info, 1, "dweight");
    FloatArg dout = float_array(info, 2, "dout"), x = float_array(info, 3, "x");
    FloatArg rstd = float_array(info, 4, "rstd"), weight = float_array(info, 5, "weight");
    expect_size(env, dx, T * D, "dx");
    expect_size(env, dweight, D, "dweight");
    expect_size(env, dout, T * D, "dout");
    expect_size(env, x, T * D, "x");
    expect_size(env, rstd, T, "rstd");
    expect_size(env, weight, D, "weight");
    snax::rmsnorm_backward(dx.data, dweight.data, dout.data, x.data, rstd.data, weight.data, T, D);
    return env.Undefined();
  });
}

// linearForward(out_TO, x_TI, w_OI, T, I, O)
Napi::Value linear_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    int64_t T = integer(info, 3, "T"), I = integer(info, 4, "I"), O = integer(info, 5, "O");
    FloatArg out = float_array(info, 0, "out"), x = float_array(info, 1, "x"), w = float_array(info, 2, "w");
    expect_size(env, out, T * O, "out");
    expect_size(env, x, T * I, "x");
    expect_size(env, w, O * I, "w");
    snax::linear_forward(out.data, x.data, w.data, T, I, O);
    return env.Undefined();
  });
}

// linearBackward(dx_TI or null, dw_OI, dout_TO, x_TI, w_OI, T, I, O)
Napi::Value linear_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    int64_t T = integer(info, 5, "T"), I = integer(info, 6, "I"), O = integer(info, 7, "O");
    FloatArg dx = optional_float_array(info, 0, "dx");
    FloatArg dw = float_array(info, 1, "dw"), dout = float_array(info, 2, "dout");
    FloatArg x = float_array(info, 3, "x"), w = float_array(info, 4, "w");
    if (dx.data != nullptr) expect_size(env, dx, T * I, "dx");
    expect_size(env, dw, O * I, "dw");
    expect_size(env, dout, T * O, "dout");
    expect_size(env, x, T * I, "x");
    expect_size(env, w, O * I, "w");
    snax::linear_backward(dx.data, dw.data, dout.data, x.data, w.data, T, I, O);
    return env.Undefined();
  });
}

using AttentionForwardKernel = void (*)(float*, float*, float*, const float*, int64_t, int64_t, int64_t, int64_t,
                                        double);
using AttentionBackwardKernel = void (*)(float*, const float*, const float*, const float*, int64_t, int64_t, int64_t,
                                         int64_t, double);

// attentionForward(out_BSD, qkvRot_BS3D, probs_BHSS, qkv_BS3D, B, S, D, H, ropeTheta), run by kernel.
Napi::Value attention_forward_with(const Napi::CallbackInfo& info, AttentionForwardKernel kernel) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    int64_t B = integer(info, 4, "B"), S = integer(info, 5, "S"), D = integer(info, 6, "D"), H = integer(info, 7, "H");
    double theta = number(info, 8, "ropeTheta");
    FloatArg out = float_array(info, 0, "out"), qkv_rot = float_array(info, 1, "qkvRot");
    FloatArg probs = float_array(info, 2, "probs"), qkv = float_array(info, 3, "qkv");
    expect_size(env, out, B * S * D, "out");
    expect_size(env, qkv_rot, B * S * 3 * D, "qkvRot");
    expect_size(env, probs, B * H * S * S, "probs");
    expect_size(env, qkv, B * S * 3 * D, "qkv");
    kernel(out.data, qkv_rot.data, probs.data, qkv.data, B, S, D, H, theta);
    return env.Undefined();
  });
}

// attentionBackward(dqkv_BS3D, dout_BSD, qkvRot_BS3D, probs_BHSS, B, S, D, H, ropeTheta), run by kernel.
Napi::Value attention_backward_with(const Napi::CallbackInfo& info, AttentionBackwardKernel kernel) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    int64_t B = integer(info, 4, "B"), S = integer(info, 5, "S"), D = integer(info, 6, "D"), H = integer(info, 7, "H");
    double theta = number(info, 8, "ropeTheta");
    FloatArg dqkv = float_array(info, 0, "dqkv"), dout = float_array(info, 1, "dout");
    FloatArg qkv_rot = float_array(info, 2, "qkvRot"), probs = float_array(info, 3, "probs");
    expect_size(env, dqkv, B * S * 3 * D, "dqkv");
    expect_size(env, dout, B * S * D, "dout");
    expect_size(env, qkv_rot, B * S * 3 * D, "qkvRot");
    expect_size(env, probs, B * H * S * S, "probs");
    kernel(dqkv.data, dout.data, qkv_rot.data, probs.data, B, S, D, H, theta);
    return env.Undefined();
  });
}

Napi::Value attention_forward(const Napi::CallbackInfo& info) {
  return attention_forward_with(info, snax::attention_forward);
}

Napi::Value attention_backward(const Napi::CallbackInfo& info) {
  return attention_backward_with(info, snax::attention_backward);
}

Napi::Value attention_forward_reference(const Napi::CallbackInfo& info) {
  return attention_forward_with(info, snax::attention_forward_reference);
}

Napi::Value attention_backward_reference(const Napi::CallbackInfo& info) {
  return attention_backward_with(info, snax::attention_backward_reference);
}

// swigluForward(out_TN, h_T2N, T, N)
Napi::Value swiglu_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    int64_t T = integer(info, 2, "T"), N = integer(info, 3, "N");
    FloatArg out = float_array(info, 0, "out"), h = float_array(info, 1, "h");
    expect_size(env, out, T * N, "out");
    expect_size(env, h, T * 2 * N, "h");
    snax::swiglu_forward(out.data, h.data, T, N);
    return env.Undefined();
  });
}

// swigluBackward(dh_T2N, dout_TN, h_T2N, T, N)
Napi::Value swiglu_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    int64_t T = integer(info, 3, "T"), N = integer(info, 4, "N");
    FloatArg dh = float_array(info, 0, "dh"), dout = float_array(info, 1, "dout"), h = float_array(info, 2, "h");
    expect_size(env, dh, T * 2 * N, "dh");
    expect_size(env, dout, T * N, "dout");
    expect_size(env, h, T * 2 * N, "h");
    snax::swiglu_backward(dh.data, dout.data, h.data, T, N);
    return env.Undefined();
  });
}

// crossEntropy(losses_T, dlogits_TV or null, logits_TV, targets_T, T, V, gradScale) -> sum of losses
Napi::Value cross_entropy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    int64_t T = integer(info, 4, "T"), V = integer(info, 5, "V");
    double grad_scale = number(info, 6, "gradScale");
    FloatArg losses = float_array(info, 0, "losses");
    FloatArg dlogits = optional_float_array(info, 1, "dlogits");
    FloatArg logits = float_array(info, 2, "logits");
    const int32_t* targets = int32_of_size(info, 3, "targets", T);
    expect_size(env, losses, T, "losses");
    if (dlogits.data != nullptr) expect_size(env, dlogits, T * V, "dlogits");
    expect_size(env, logits, T * V, "logits");
    double total =
        snax::cross_entropy(losses.data, dlogits.data, logits.data, targets, T, V, static_cast<float>(grad_scale));
    return Napi::Number::New(env, total);
  });
}

// adamwStep(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step)
Napi::Value adamw_step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    FloatArg param = float_array(info, 0, "param"), grad = float_array(info, 1, "grad");
    FloatArg m = float_array(info, 2, "m"), v = float_array(info, 3, "v");
    double lr = number(info, 4, "lr"), beta1 = number(info, 5, "beta1"), beta2 = number(info, 6, "beta2");
    double eps = number(info, 7, "eps"), weight_decay = number(info, 8, "weightDecay");
    int64_t step = integer(info, 9, "step");
    expect_size(env, grad, param.size, "grad");
    expect_size(env, m, param.size, "m");
    expect_size(env, v, param.size, "v");
    snax::adamw_step(param.data, grad.data, m.data, v.data, param.size, static_cast<float>(lr),
                     static_cast<float>(beta1), static_cast<float>(beta2), static_cast<float>(eps),
                     static_cast<float>(weight_decay), step);
    return env.Undefined();
  });
}

// sumSquares(x) -> sum of x^2 in double
Napi::Value sum_squares(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    FloatArg x = float_array(info, 0, "x");
    return Napi::Number::New(env, snax::sum_squares(x.data, x.size));
  });
}

// scaleInPlace(x, factor)
Napi::Value scale_in_place(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    FloatArg x = float_array(info, 0, "x");
    double factor = number(info, 1, "factor");
    snax::scale_in_place(x.data, x.size, static_cast<float>(factor));
    return env.Undefined();
  });
}

// addInPlace(a, b): a += b
Napi::Value add_in_place(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    FloatArg a = float_array(info, 0, "a"), b = float_array(info, 1, "b");
    expect_size(env, b, a.size, "b");
    snax::add_in_place(a.data, b.data, a.size);
    return env.Undefined();
  });
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  exports.Set("embeddingForward", Napi::Function::New(env, embedding_forward));
  exports.Set("embeddingBackward", Napi::Function::New(env, embedding_backward));
  exports.Set("rmsnormForward", Napi::Function::New(env, rmsnorm_forward));
  exports.Set("rmsnormBackward", Napi::Function::New(env, rmsnorm_backward));
  exports.Set("linearForward", Napi::Function::New(env, linear_forward));
  exports.Set("linearBackward", Napi::Function::New(env, linear_backward));
  exports.Set("attentionForward", Napi::Function::New(env, attention_forward));
  exports.Set("attentionBackward", Napi::Function::New(env, attention_backward));
  exports.Set("attentionForwardReference", Napi::Function::New(env, attention_forward_reference));
  exports.Set("attentionBackwardReference", Napi::Function::New(env, attention_backward_reference));
  exports.Set("swigluForward", Napi::Function::New(env, swiglu_forward));
  exports.Set("swigluBackward", Napi::Function::New(env, swiglu_backward));
  exports.Set("crossEntropy", Napi::Function::New(env, cross_entropy));
  exports.Set("adamwStep", Napi::Function::New(env, adamw_step));
  exports.Set("sumSquares", Napi::Function::New(env, sum_squares));
  exports.Set("scaleInPlace", Napi::Function::New(env, scale_in_place));
  exports.Set("addInPlace", Napi::Function::New(env, add_in_place));
}

}  // namespace snax_napi

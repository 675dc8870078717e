// Bindings for the ops kernels.
#include <napi.h>

#include "bindings/napi_util.h"

namespace snax_napi {

void register_ops(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace snax_napi

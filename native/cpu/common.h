// Shared definitions for the CPU kernels: the shape legend, the error type
// every kernel throws, and the thread count.
//
// Shape legend used in every kernel file:
//   T tokens, D model width, E experts, K experts per token, N expert width,
//   TK = T*K routed pairs, V vocabulary, H heads, S sequence length.
// Suffixes give the shape of a buffer in row-major order: x_TD is T rows of D.
//
// Kernels never exit the process. They throw snax::Error, and the binding
// layer turns it into a JavaScript error with the same code.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace snax {

// A kernel failure with a stable code (for example "SHAPE_MISMATCH").
struct Error : std::runtime_error {
  std::string code;
  Error(std::string error_code, const std::string& message)
      : std::runtime_error(message), code(std::move(error_code)) {}
};

// The maximum number of threads a kernel starts. More would only make thread creation fail.
constexpr int kMaxThreads = 256;

// Threads used by parallel kernels: SNAX_NUM_THREADS when set to a positive
// integer, otherwise every core OpenMP reports.
int num_threads();

// Overrides the thread count for this process (0 restores the default).
void set_num_threads(int threads);

}  // namespace snax

// Throws snax::Error(code, message) when cond is false. The message is built
// with stream syntax: SNAX_CHECK(k <= e, "INVALID_ARGUMENT", "K=" << k << " ...").
#define SNAX_CHECK(cond, code, message)                  \
  do {                                                   \
    if (!(cond)) {                                       \
      std::ostringstream snax_check_stream;              \
      snax_check_stream << message;                      \
      throw ::snax::Error((code), snax_check_stream.str()); \
    }                                                    \
  } while (0)

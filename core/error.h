// attend::Error and the CHECK macro: the one error path of the project.
//
//   CHECK(a.dim() == 2, "matmul: expected a 2-D tensor, got shape {}", shape_str(a.shape()));
//
// A failed CHECK throws attend::Error whose what() is "<message> [file.cpp:123]".
// User-facing code may add a hint with CHECK_HINT. Tools catch Error at the top,
// print one line on stderr and exit non-zero.
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>

namespace attend {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
[[noreturn]] void throw_error(const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace attend

#define ATTEND_ERROR(...) ::attend::detail::throw_error(__FILE__, __LINE__, ::fmt::format(__VA_ARGS__))

#define CHECK(cond, ...)         \
  do {                           \
    if (!(cond)) [[unlikely]] {  \
      ATTEND_ERROR(__VA_ARGS__); \
    }                            \
  } while (0)

#define CHECK_HINT(cond, hint, ...)                                                          \
  do {                                                                                       \
    if (!(cond)) [[unlikely]] {                                                              \
      ::attend::detail::throw_error(__FILE__, __LINE__,                                      \
                                    ::fmt::format(__VA_ARGS__) + " (hint: " + (hint) + ")"); \
    }                                                                                        \
  } while (0)

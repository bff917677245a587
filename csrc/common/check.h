// Argument checks for the compiled core. They throw std::invalid_argument, which pybind11
// maps to Python's ValueError: bad input never crashes the interpreter. The Python wrappers in
// hpefast/ops validate first with typed errors; these are the backstop.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace hpefast {

template <typename... Args>
inline std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace hpefast

#define HPEFAST_CHECK(cond, ...)                                                   \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      throw std::invalid_argument(::hpefast::str_cat("hpefast: ", __VA_ARGS__));   \
    }                                                                              \
  } while (0)

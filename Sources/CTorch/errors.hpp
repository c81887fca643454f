// Error capture for CTorch's translation units (torch.cpp, dist.cpp): the shared C-boundary helpers
// (Sources/CShared/dfk_errors.hpp) with libtorch's exception type.
#pragma once
#include <c10/util/Exception.h>

#include "dfk_errors.hpp"

namespace dfk_torch {
using dfk_shim::set_err;
/// Runs `f`; an exception becomes the message at `*err` and `fail` the result.
template <typename R, typename F> R guard(char **err, R fail, F &&f) {
  return dfk_shim::guard<c10::Error>(err, fail, std::forward<F>(f),
                                     [](const c10::Error &e) { return dfk_shim::clean(e.what_without_backtrace()); });
}
/// Runs `f` for its effect: 0, or -1 with the message at `*err`.
template <typename F> int status(char **err, F &&f) {
  return guard<int>(err, -1, [&]() { f(); return 0; });
}
}  // namespace dfk_torch

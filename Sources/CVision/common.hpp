// Internal helpers shared by the CVision translation units.
#pragma once
#include <opencv2/core.hpp>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include "CVision.h"
#include "dfk_errors.hpp"

struct dfk_image { cv::Mat m; };

namespace dfk {
using dfk_shim::set_err;
// Runs `f`, turning any exception into an error message and `fail` as the return value.
template <typename R, typename F> R guard(char **err, R fail, F &&f) {
  return dfk_shim::guard<cv::Exception>(err, fail, std::forward<F>(f),
                                        [](const cv::Exception &e) { return e.err.empty() ? std::string(e.what()) : e.err; });
}
}  // namespace dfk

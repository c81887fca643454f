// Internal helpers shared by the CVision translation units.
#pragma once
#include <opencv2/core.hpp>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include "CVision.h"

struct dfk_image { cv::Mat m; };

namespace dfk {
inline void set_err(char **err, const std::string &msg) {
  if (!err) return;
  char *s = static_cast<char *>(std::malloc(msg.size() + 1));
  if (!s) return;
  std::memcpy(s, msg.c_str(), msg.size() + 1);
  *err = s;
}
// Runs `f`, turning any exception into an error message and `fail` as the return value.
template <typename R, typename F> R guard(char **err, R fail, F &&f) {
  try {
    return f();
  } catch (const cv::Exception &e) {
    set_err(err, e.err.empty() ? std::string(e.what()) : e.err);
  } catch (const std::exception &e) {
    set_err(err, e.what());
  } catch (...) {
    set_err(err, "unknown C++ exception");
  }
  return fail;
}
}  // namespace dfk

// The C-boundary error helpers both shims (CVision, CTorch) share: a C++ exception never crosses into Swift; it
// becomes a malloc'd message in the caller's `char **err` (freed by the Swift side) and a failure value.
// Header only, included by the shims' translation units through -I (Package.swift); not a SwiftPM target.
#pragma once
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <utility>

namespace dfk_shim {
/// Copies `msg` into a new malloc'd string at `*err` (nothing when `err` is null or memory is out).
inline void set_err(char **err, const std::string &msg) {
  if (!err) return;
  char *s = static_cast<char *>(std::malloc(msg.size() + 1));
  if (!s) return;
  std::memcpy(s, msg.c_str(), msg.size() + 1);
  *err = s;
}

/// A message without the C++ backtrace some libtorch builds append after it ("\nException raised from ...").
inline std::string clean(const char *what) {
  std::string s(what);
  auto pos = s.find("\nException raised from");
  if (pos != std::string::npos) s = s.substr(0, pos);
  return s;
}

/// Runs `f`; an exception becomes the message at `*err` and `fail` the result. `Lib` is the library's own exception
/// type (cv::Exception, c10::Error), whose message `describe` gives; any other std::exception gives its what().
template <typename Lib, typename R, typename F, typename D> R guard(char **err, R fail, F &&f, D &&describe) {
  try {
    return f();
  } catch (const Lib &e) {
    set_err(err, describe(e));
  } catch (const std::exception &e) {
    set_err(err, clean(e.what()));
  } catch (...) {
    set_err(err, "unknown C++ exception");
  }
  return fail;
}
}  // namespace dfk_shim

// The message of the attend::Error a call throws, for bad-input tests that check the text;
// "(no error)" when it throws none.
//
//   EXPECT_NE(error_of([&] { load_config(path); }).find("unknown key"), std::string::npos);
#pragma once

#include <functional>
#include <string>

#include "core/error.h"

namespace attend {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace attend

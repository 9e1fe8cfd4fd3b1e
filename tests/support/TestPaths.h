// Paths the tests use. ../shared is read-only: tests write only under tmp_dir().
#pragma once

#include <string>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::test {

// ../shared (override: VK_SYMBIOTE_SHARED_DIR).
Path shared_dir();
// ../shared/models (override: VK_SYMBIOTE_MODELS_DIR).
Path models_dir();
Path reference_dir();
Path tokenizer_tests_dir();
// A fresh, per-test-process scratch directory under the build tree (removed at exit).
Path tmp_dir();
// Whole file as bytes; fails the current test if unreadable.
std::string read_file(const Path& p);

}  // namespace vk_symbiote::test

// Loads the tokenizer of a GGUF file (vocabulary-only files too) for a test; records a
// test failure and returns nullptr when the file does not load.
#pragma once

#include <memory>

#include "model/Tokenizer.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote::test {

std::unique_ptr<Tokenizer> load_tokenizer(const Path& path);

}  // namespace vk_symbiote::test

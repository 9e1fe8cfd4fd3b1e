// Loads tokenizers for tests: of a GGUF file (vocabulary-only files too), or of a Hugging Face
// folder. Records a test failure and returns nullptr when it does not load.
#pragma once

#include <memory>

#include "model/Tokenizer.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote::test {

std::unique_ptr<Tokenizer> load_tokenizer(const Path& path);

// The tokenizer of a Hugging Face folder, loaded once per test process and kept (Gemma 3's
// tokenizer.json is 33 MB); nullptr (and a failure) if it does not load.
const Tokenizer* hf_tokenizer(const Path& dir);

}  // namespace vk_symbiote::test

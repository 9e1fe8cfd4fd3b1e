#include "support/TestTokenizer.h"

#include <gtest/gtest.h>

#include "gguf/GGUFLoader.h"

namespace vk_symbiote::test {

std::unique_ptr<Tokenizer> load_tokenizer(const Path& path) {
    auto g = GGUFLoader::open(path, GGUFOpenOptions{.allow_quantized = true});
    EXPECT_TRUE(g) << path << ": " << g.error().to_string();
    if (!g) return nullptr;
    auto t = Tokenizer::from_gguf(**g);
    EXPECT_TRUE(t) << path << ": " << t.error().to_string();
    if (!t) return nullptr;
    return std::move(*t);
}

}  // namespace vk_symbiote::test

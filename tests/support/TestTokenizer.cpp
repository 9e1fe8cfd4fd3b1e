#include "support/TestTokenizer.h"

#include <gtest/gtest.h>

#include <map>

#include "gguf/GGUFLoader.h"
#include "model/HfTokenizerFolder.h"

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

const Tokenizer* hf_tokenizer(const Path& dir) {
    static std::map<Path, std::unique_ptr<Tokenizer>> loaded;  // tests run on one thread
    auto it = loaded.find(dir);
    if (it == loaded.end()) {
        auto t = load_hf_tokenizer(dir);
        EXPECT_TRUE(t) << dir << ": " << t.error().to_string();
        if (!t) return nullptr;
        it = loaded.emplace(dir, std::move(*t)).first;
    }
    return it->second.get();
}

}  // namespace vk_symbiote::test

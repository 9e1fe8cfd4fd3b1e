// llama.cpp's tokenizer test vectors (../shared/tokenizer-tests) and the prompts of
// ../shared/reference: our token ids must equal llama.cpp's exactly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gguf/GGUFLoader.h"
#include "model/Tokenizer.h"
#include "support/TestPaths.h"
#include "support/TestTokenizer.h"
#include "support/TokenizerVectors.h"

using namespace vk_symbiote;

namespace {

using test::ids_str;

// Every input of X.gguf.inp must give the ids of the same line of X.gguf.out
// (no BOS/EOS, special tokens not parsed). Reports the first mismatching input.
void check_vectors(const std::string& vocab) {
    const Path dir = test::tokenizer_tests_dir();
    auto tok = test::load_tokenizer(dir / vocab);
    ASSERT_TRUE(tok);
    const std::vector<std::string> inputs = test::read_vector_inputs(dir / (vocab + ".inp"));
    const std::vector<std::string> expected = test::read_vector_ids(dir / (vocab + ".out"));
    ASSERT_EQ(inputs.size(), expected.size()) << vocab << ": inputs and expected outputs differ in count";
    ASSERT_GT(inputs.size(), 10u);
    for (size_t i = 0; i < inputs.size(); ++i) {
        const std::string got = ids_str(tok->encode(inputs[i], /*add_special=*/false, /*parse_special=*/false));
        ASSERT_EQ(got, expected[i]) << vocab << ": input #" << i << " '" << inputs[i] << "'";
    }
}

}  // namespace

TEST(TokenizerVectors, LlamaSpm) { check_vectors("ggml-vocab-llama-spm.gguf"); }
TEST(TokenizerVectors, Phi3) { check_vectors("ggml-vocab-phi-3.gguf"); }
TEST(TokenizerVectors, Gpt2) { check_vectors("ggml-vocab-gpt-2.gguf"); }
TEST(TokenizerVectors, Starcoder) { check_vectors("ggml-vocab-starcoder.gguf"); }
TEST(TokenizerVectors, DeepseekLlm) { check_vectors("ggml-vocab-deepseek-llm.gguf"); }
TEST(TokenizerVectors, Mpt) { check_vectors("ggml-vocab-mpt.gguf"); }

// Reference prompts: tokenizing `prompt` with add_special=true gives llama.cpp's
// prompt_tokens (BOS included); the greedy continuation decodes to greedy_text_hex.
class TokenizerReference : public ::testing::TestWithParam<const char*> {};

TEST_P(TokenizerReference, PromptTokensAndGreedyText) {
    const auto j = nlohmann::json::parse(test::read_file(test::reference_dir() / (std::string(GetParam()) + ".json")));
    auto tok = test::load_tokenizer(test::models_dir() / j.at("model").get<std::string>());
    ASSERT_TRUE(tok);
    const auto expected = j.at("prompt_tokens").get<std::vector<uint32>>();
    EXPECT_EQ(ids_str(tok->encode(j.at("prompt").get<std::string>(), true, false)), ids_str(expected));
    EXPECT_EQ(tok->decode(expected), j.at("prompt").get<std::string>());

    // greedy_text_hex: the exact bytes of the continuation (decoded after the prompt).
    const auto greedy = j.at("greedy_tokens").get<std::vector<uint32>>();
    const std::string hex = j.at("greedy_text_hex").get<std::string>();
    std::string bytes;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    EXPECT_EQ(tok->decode(greedy, DecodeStart::Continuation), bytes);
    std::string streamed;
    TokenStreamDecoder stream(*tok, DecodeStart::Continuation);
    for (uint32 id : greedy) streamed += stream.push(id);
    streamed += stream.flush();
    EXPECT_EQ(streamed, bytes);
}

INSTANTIATE_TEST_SUITE_P(Models, TokenizerReference,
                         ::testing::Values("stories260K.once", "stories260K.park", "syn-spm-f16"));

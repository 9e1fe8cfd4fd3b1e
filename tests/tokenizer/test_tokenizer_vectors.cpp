// llama.cpp's tokenizer test vectors (../shared/tokenizer-tests) and the prompts of
// ../shared/reference: our token ids must equal llama.cpp's exactly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "gguf/GGUFLoader.h"
#include "model/Tokenizer.h"
#include "support/TestPaths.h"
#include "support/TestTokenizer.h"

using namespace vk_symbiote;

namespace {

std::string ids_str(const std::vector<uint32>& ids) {
    std::string s;
    for (uint32 id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
}

// Every input of X.gguf.inp must give the ids of the same line of X.gguf.out
// (no BOS/EOS, special tokens not parsed). Reports the first mismatching input.
void check_vectors(const std::string& vocab) {
    const Path dir = test::tokenizer_tests_dir();
    auto tok = test::load_tokenizer(dir / vocab);
    ASSERT_TRUE(tok);
    const std::string inp = test::read_file(dir / (vocab + ".inp"));
    const std::string outs = test::read_file(dir / (vocab + ".out"));

    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> inputs;
    for (size_t pos = 0;;) {
        const size_t next = inp.find(sep, pos);
        if (next == std::string::npos) {
            if (pos < inp.size()) inputs.push_back(inp.substr(pos));
            break;
        }
        inputs.push_back(inp.substr(pos, next - pos));
        pos = next + sep.size();
    }
    std::vector<std::string> expected;
    std::istringstream lines(outs);
    for (std::string line; std::getline(lines, line);) {
        // normalise the separator spacing: ids separated by single spaces, no leading one
        std::istringstream ids(line);
        std::vector<uint32> v;
        for (uint32 id; ids >> id;) v.push_back(id);
        expected.push_back(ids_str(v));
    }
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

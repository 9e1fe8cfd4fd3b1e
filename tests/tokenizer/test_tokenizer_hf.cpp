// Hugging Face tokenizers against their references: the tokenizer.json vectors of
// ../shared/tokenizer-tests/hf (Llama 3, Qwen3, Gemma 3), and the tokenizer.model folders of
// ../shared/models/hf against llama.cpp's prompts and greedy text in ../shared/reference/hf.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/Tokenizer.h"
#include "model/Unicode.h"
#include "model/UnicodeNorm.h"
#include "support/TestPaths.h"
#include "support/TestTokenizer.h"
#include "support/TokenizerVectors.h"

using namespace vk_symbiote;

namespace {

using test::ids_str;

std::string hex_bytes(const std::string& hex) {
    std::string bytes;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return bytes;
}

std::string printable(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\n' ? std::string("\\n") : c == '\t' ? std::string("\\t") : std::string(1, c);
    return out;
}

// Every string of NAME.inp: without special tokens it gives NAME.out's line, with them
// NAME.add_special.out's (added tokens in the text are recognised in both, as Hugging Face
// does); and it decodes back to itself (to its NFC form where the tokenizer normalizes).
// Every mismatch is reported with its string.
void check_folder(const std::string& name) {
    const Path dir = test::tokenizer_tests_dir() / "hf" / name;
    const Tokenizer* tok = test::hf_tokenizer(dir);
    ASSERT_TRUE(tok);
    const auto inputs = test::read_vector_inputs(dir / (name + ".inp"));
    const auto plain = test::read_vector_ids(dir / (name + ".out"));
    const auto special = test::read_vector_ids(dir / (name + ".add_special.out"));
    ASSERT_EQ(inputs.size(), plain.size()) << name;
    ASSERT_EQ(inputs.size(), special.size()) << name;
    ASSERT_GE(inputs.size(), 46u) << name;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const std::string& s = inputs[i];
        const std::vector<uint32> ids = tok->encode(s, /*add_special=*/false, /*parse_special=*/true);
        EXPECT_EQ(ids_str(ids), plain[i]) << name << ".out #" << i << " '" << printable(s) << "'";
        EXPECT_EQ(ids_str(tok->encode(s, true, true)), special[i]) << name << ".add_special.out #" << i << " '" << printable(s) << "'";
        const std::vector<uint32> cpts = unicode::utf8_to_cpts(s);
        const std::vector<uint32> nfc = name == "qwen3" ? unicode::to_nfc(cpts) : cpts;
        EXPECT_EQ(tok->decode(ids), unicode::cpts_to_utf8(nfc.data(), nfc.size())) << name << " decode #" << i << " '" << printable(s) << "'";
    }
}

}  // namespace

// Each folder is loaded once per process (ctest runs every test in its own): its vectors, then
// what its configs and post-processor say about special tokens.
TEST(HfTokenizerVectors, Llama3) {
    check_folder("llama3");
    const Tokenizer* t = test::hf_tokenizer(test::tokenizer_tests_dir() / "hf" / "llama3");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->type(), TokenizerType::Json);
    EXPECT_EQ(t->bos_id(), 128000u);
    EXPECT_EQ(t->eos_id(), 128001u);
    EXPECT_FALSE(t->add_bos());      // its post_processor is ByteLevel only
    EXPECT_TRUE(t->is_eog(128009));  // <|eot_id|>, by its text
    EXPECT_EQ(t->encode("<|begin_of_text|>Hi", false, true), (std::vector<uint32>{128000, 13347}));
    EXPECT_NE(t->encode("<|begin_of_text|>Hi", false, false).front(), 128000u);  // special: only when parsed
    EXPECT_EQ(t->decode({128000, 13347}), "Hi");                                   // control tokens render as nothing
    EXPECT_EQ(t->token_to_piece(128000), "<|begin_of_text|>");
    ASSERT_TRUE(t->chat_template().has_value());
    EXPECT_NE(t->chat_template()->find("<|start_header_id|>"), std::string::npos);
}

TEST(HfTokenizerVectors, Qwen3) {
    check_folder("qwen3");
    const Tokenizer* t = test::hf_tokenizer(test::tokenizer_tests_dir() / "hf" / "qwen3");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->bos_id(), Tokenizer::kNoToken);  // bos_token: null
    EXPECT_EQ(t->eos_id(), 151645u);              // <|im_end|>
    // <think> is a non-special added token: recognised even when special tokens are not parsed.
    EXPECT_EQ(t->encode("<think>", false, false), std::vector<uint32>{151667});
    EXPECT_EQ(t->decode({151667}), "<think>");
}

TEST(HfTokenizerVectors, Gemma3) {
    check_folder("gemma3");
    const Tokenizer* t = test::hf_tokenizer(test::tokenizer_tests_dir() / "hf" / "gemma3");
    ASSERT_TRUE(t);
    EXPECT_TRUE(t->add_bos());
    EXPECT_EQ(t->bos_id(), 2u);
    EXPECT_EQ(t->eos_id(), 106u);  // <end_of_turn>
    EXPECT_EQ(t->encode("", true, true), std::vector<uint32>{2});
    // Byte fallback: a character outside the vocabulary decodes back to its exact bytes.
    const std::string rare = "\xf0\x9f\xaf\x8a";  // U+1FBCA
    const auto ids = t->encode(rare, false, false);
    ASSERT_EQ(ids.size(), 4u);
    for (uint32 id : ids) EXPECT_TRUE(t->token_attributes(id) & token_attr::kByte) << t->token_text(id);
    EXPECT_EQ(t->token_text(ids[0]), "<0xF0>");
    EXPECT_EQ(t->decode(ids), rare);
}

// The tokenizer.model folders: the reference prompt tokenizes to llama.cpp's prompt_tokens (BOS
// as tokenizer_config.json's add_bos_token says) and the greedy tokens decode to its bytes.
class HfTokenizerReference : public ::testing::TestWithParam<const char*> {};

TEST_P(HfTokenizerReference, PromptTokensAndGreedyText) {
    const auto j = nlohmann::json::parse(test::read_file(test::reference_dir() / "hf" / (std::string(GetParam()) + ".json")));
    const Tokenizer* tok = test::hf_tokenizer(test::models_dir() / j.at("model").get<std::string>());
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->type(), TokenizerType::Spm);
    const std::string prompt = j.at("prompt").get<std::string>();
    const auto expected = j.at("prompt_tokens").get<std::vector<uint32>>();
    EXPECT_EQ(ids_str(tok->encode(prompt, true, false)), ids_str(expected));
    EXPECT_EQ(tok->decode(expected), prompt);

    const auto greedy = j.at("greedy_tokens").get<std::vector<uint32>>();
    const std::string bytes = hex_bytes(j.at("greedy_text_hex").get<std::string>());
    EXPECT_EQ(tok->decode(greedy, DecodeStart::Continuation), bytes);
    std::string streamed;
    TokenStreamDecoder stream(*tok, DecodeStart::Continuation);
    for (uint32 id : greedy) streamed += stream.push(id);
    EXPECT_EQ(streamed + stream.flush(), bytes);
}

INSTANTIATE_TEST_SUITE_P(Folders, HfTokenizerReference,
                         ::testing::Values("llama31", "qwen2", "qwen3", "gemma2", "phi3", "mixtral"));

// Phi-3's added tokens (added_tokens.json, ids 512-522): special, with rstrip, and end of
// generation where generation_config.json says so.
TEST(HfTokenizerFolder, Phi3AddedTokens) {
    const Tokenizer* tok = test::hf_tokenizer(test::models_dir() / "hf" / "phi3");
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->n_vocab(), 523u);
    EXPECT_EQ(tok->token_id("<|user|>"), std::optional<uint32>(522));
    EXPECT_EQ(tok->eos_id(), 512u);
    EXPECT_FALSE(tok->add_bos());
    for (uint32 id : {512u, 513u, 519u}) EXPECT_TRUE(tok->is_eog(id)) << id;
    EXPECT_FALSE(tok->is_eog(522));
    // rstrip: "<|user|>" takes the newline after it.
    const auto ids = tok->encode("<|user|>\nHi<|end|>", false, true);
    ASSERT_GE(ids.size(), 3u);
    EXPECT_EQ(ids.front(), 522u);
    EXPECT_EQ(ids.back(), 519u);
    EXPECT_EQ(tok->decode(ids), "Hi");
    EXPECT_EQ(tok->encode("<|user|>\nHi", false, true), tok->encode("<|user|>Hi", false, true));
}

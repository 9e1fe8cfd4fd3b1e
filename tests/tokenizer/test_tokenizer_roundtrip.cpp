// Round trips (decode(encode(s)) == s for arbitrary UTF-8) of GGUF and Hugging Face tokenizers,
// the streaming decoder, special tokens, metadata-derived ids and error handling.
#include <gtest/gtest.h>

#include <random>

#include "gguf/GGUFLoader.h"
#include "model/Tokenizer.h"
#include "model/Unicode.h"
#include "support/TestPaths.h"
#include "support/TestTokenizer.h"

using namespace vk_symbiote;

namespace {

// Strict UTF-8 validity: utf8_to_cpts turns every truncated, overlong or surrogate sequence
// into U+FFFD, and the random texts never contain U+FFFD themselves.
bool valid_utf8(const std::string& s) {
    for (uint32 c : unicode::utf8_to_cpts(s))
        if (c == unicode::kReplacementChar) return false;
    return true;
}

// Random strings over a pool that covers ASCII (incl. whitespace runs and contractions),
// Latin-1, Cyrillic, CJK, Hangul, Khmer (combining marks), emoji with ZWJ/VS16, 4-byte
// characters and Unicode whitespace.
std::string random_text(std::mt19937& rng, size_t max_len) {
    static const std::vector<std::string> pool = {
        "a", "b", "Z", "q", "e", "7", "0", "333", " ", " ", "  ", "\n", "\n\n", "\t", "\r\n", ".", ",", "!", "?",
        "'s", "'ll", "'VE", "\"", "(", ")", "{", "}", "$", "+", "<", "=", ">", "^", "~", "|", "`", "-", "_", "/",
        "\xc3\xa9", "\xc3\x9f", "\xc2\xbd", "\xc3\x84", "\xc3\xb8", "\xd0\x96", "\xd0\xbd\xd0\xb5", "\xe6\x88\x91",
        "\xe5\xb7\xa5", "\xea\xb0\x80", "\xe1\x9e\x80\xe1\x9e\xb6", "\xe1\x9f\x8b", "\xf0\x9f\xa6\x99",
        "\xf0\x9f\x98\xb6\xe2\x80\x8d\xf0\x9f\x8c\xab\xef\xb8\x8f", "\xe2\x9c\x85", "\xf0\x9d\x90\x80",
        "\xe3\x80\x80", "\xc2\xa0", "\xe2\x80\x83", "\xef\xbd\x9e", "\xd9\xa3", "\xe2\x85\xab", "Hello", " world",
    };
    std::uniform_int_distribution<size_t> len(0, max_len), pick(0, pool.size() - 1);
    std::string s;
    for (size_t n = len(rng); n > 0; --n) s += pool[pick(rng)];
    return s;
}

void check_round_trip(const char* what, const Tokenizer& tok, int iterations) {
    std::mt19937 rng(1234);
    for (int it = 0; it < iterations; ++it) {
        const std::string s = random_text(rng, 40);
        const std::vector<uint32> ids = tok.encode(s, /*add_special=*/true, /*parse_special=*/false);
        ASSERT_EQ(tok.decode(ids), s) << what << ": iteration " << it;

        // Streaming: same bytes as decode(), and every chunk is whole characters.
        TokenStreamDecoder stream(tok);
        std::string streamed;
        for (uint32 id : ids) {
            const std::string chunk = stream.push(id);
            ASSERT_TRUE(valid_utf8(chunk)) << what << ": partial character in a streamed chunk, iteration " << it;
            streamed += chunk;
        }
        const std::string rest = stream.flush();
        EXPECT_TRUE(rest.empty()) << what << ": bytes held back at the end of valid text";
        streamed += rest;
        ASSERT_EQ(streamed, s) << what << ": iteration " << it;
    }
}

}  // namespace

TEST(TokenizerRoundTrip, SpmVocabularies) {
    for (const Path& p : {test::tokenizer_tests_dir() / "ggml-vocab-llama-spm.gguf", test::models_dir() / "stories260K.gguf"}) {
        auto tok = test::load_tokenizer(p);
        ASSERT_TRUE(tok);
        check_round_trip(p.filename().c_str(), *tok, 300);
    }
}

TEST(TokenizerRoundTrip, BpeVocabularies) {
    for (const char* name : {"ggml-vocab-gpt-2.gguf", "ggml-vocab-starcoder.gguf", "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-mpt.gguf"}) {
        auto tok = test::load_tokenizer(test::tokenizer_tests_dir() / name);
        ASSERT_TRUE(tok);
        check_round_trip(name, *tok, 300);
    }
}

// Hugging Face folders: tokenizer.json (byte-level BPE; Qwen3 also NFC-normalizes, which the
// random texts are already) and tokenizer.model (SentencePiece, with and without the dummy prefix).
TEST(TokenizerRoundTrip, HfFolders) {
    for (const Path& dir : {test::tokenizer_tests_dir() / "hf" / "llama3", test::tokenizer_tests_dir() / "hf" / "qwen3",
                            test::models_dir() / "hf" / "llama31", test::models_dir() / "hf" / "gemma2"}) {
        const Tokenizer* tok = test::hf_tokenizer(dir);
        ASSERT_TRUE(tok) << dir;
        check_round_trip(dir.filename().c_str(), *tok, 300);
    }
}

// stories260K has 512 tokens: nearly every non-ASCII character is byte-fallback, one byte per
// token, so the stream decoder must hold back 1-3 bytes at a time.
TEST(TokenStream, HoldsBackPartialCharacters) {
    auto tok = test::load_tokenizer(test::models_dir() / "stories260K.gguf");
    ASSERT_TRUE(tok);
    const std::string s = "\xf0\x9f\xa6\x99\xe6\x88\x91";  // 🦙我
    const auto ids = tok->encode(s, false, false);
    TokenStreamDecoder stream(*tok);
    std::vector<std::string> chunks;
    for (uint32 id : ids) chunks.push_back(stream.push(id));
    chunks.push_back(stream.flush());
    std::string all;
    size_t non_empty = 0;
    for (const auto& c : chunks) {
        all += c;
        if (!c.empty()) {
            ++non_empty;
            EXPECT_TRUE(c == "\xf0\x9f\xa6\x99" || c == "\xe6\x88\x91" || c == s) << "chunk splits a character";
        }
    }
    EXPECT_EQ(all, s);
    EXPECT_GE(ids.size(), 7u);  // byte fallback: one token per byte (after the space prefix)
    EXPECT_GE(non_empty, 1u);

    // An incomplete character at the end of the stream comes out of flush().
    TokenStreamDecoder cut(*tok);
    std::string out;
    for (size_t i = 0; i + 1 < ids.size(); ++i) out += cut.push(ids[i]);
    EXPECT_EQ(out, "\xf0\x9f\xa6\x99");
    EXPECT_EQ(cut.flush(), "\xe6\x88");
}

TEST(TokenizerSpecial, Phi3ControlTokensAndEog) {
    auto tok = test::load_tokenizer(test::tokenizer_tests_dir() / "ggml-vocab-phi-3.gguf");
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->type(), TokenizerType::Spm);
    EXPECT_EQ(tok->bos_id(), 1u);
    EXPECT_EQ(tok->eos_id(), 32000u);
    ASSERT_TRUE(tok->eot_id().has_value());
    EXPECT_EQ(*tok->eot_id(), 32007u);  // "<|end|>"
    EXPECT_TRUE(tok->is_eog(32000));
    EXPECT_TRUE(tok->is_eog(32007));
    EXPECT_FALSE(tok->is_eog(32010));  // "<|user|>"
    EXPECT_TRUE(tok->add_bos());
    EXPECT_EQ(tok->unk_id(), std::optional<uint32>(0));
    EXPECT_EQ(tok->pad_id(), std::optional<uint32>(32000));
    EXPECT_FALSE(tok->sep_id().has_value());
    ASSERT_TRUE(tok->chat_template().has_value());
    EXPECT_NE(tok->chat_template()->find("<|assistant|>"), std::string::npos);

    const std::string text = "<|user|>\nHi<|end|>";
    const auto parsed = tok->encode(text, true, true);
    ASSERT_GE(parsed.size(), 4u);
    EXPECT_EQ(parsed[0], 1u);      // BOS
    EXPECT_EQ(parsed[1], 32010u);  // <|user|>
    EXPECT_EQ(parsed.back(), 32007u);
    const auto plain = tok->encode(text, false, false);
    for (uint32 id : plain) EXPECT_LT(id, 32000u) << "control token recognised with parse_special=false";
    EXPECT_EQ(tok->decode(plain), text);

    EXPECT_EQ(tok->token_to_piece(32010), "<|user|>");  // token_to_piece shows control tokens
    EXPECT_EQ(tok->decode({1, 32010}), "");               // decode() renders them as nothing
    EXPECT_EQ(tok->token_to_piece(tok->n_vocab()), "");   // out of range
}

TEST(TokenizerSpecial, SpmSpacePrefixAndEmptyText) {
    auto tok = test::load_tokenizer(test::models_dir() / "syn-spm-f16.gguf");
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->n_vocab(), 32000u);
    EXPECT_TRUE(tok->add_space_prefix());
    EXPECT_EQ(tok->encode("", true, false), std::vector<uint32>{1});
    EXPECT_TRUE(tok->encode("", false, false).empty());
    EXPECT_EQ(tok->token_to_piece(15043), " Hello");  // "▁Hello"
    EXPECT_EQ(tok->decode({15043}), "Hello");         // text start: the added space goes
    EXPECT_EQ(tok->decode({15043}, DecodeStart::Continuation), " Hello");
    EXPECT_FALSE(tok->chat_template().has_value());
    EXPECT_FALSE(tok->eot_id().has_value());
    EXPECT_TRUE(tok->is_eog(2));
}

TEST(TokenizerSpecial, BpeUserDefinedTokensAlwaysParsed) {
    // MPT's multi-space tokens are USER_DEFINED: cut out even with parse_special=false.
    auto tok = test::load_tokenizer(test::tokenizer_tests_dir() / "ggml-vocab-mpt.gguf");
    ASSERT_TRUE(tok);
    EXPECT_EQ(tok->type(), TokenizerType::Bpe);
    const auto ids = tok->encode("   Hello", false, false);
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_EQ(tok->token_text(ids[0]), "   ");
    EXPECT_FALSE(tok->add_bos());
    EXPECT_EQ(tok->encode("Hi", true, false), tok->encode("Hi", false, false));  // gpt-2 style: no BOS
    // "<|endoftext|>" is CONTROL: only parsed when asked.
    EXPECT_EQ(tok->encode("<|endoftext|>", false, true), std::vector<uint32>{0});
    EXPECT_GT(tok->encode("<|endoftext|>", false, false).size(), 1u);
    EXPECT_TRUE(tok->is_eog(0));
}

TEST(TokenizerSpecial, DeepseekAddsBosFromMetadata) {
    auto tok = test::load_tokenizer(test::tokenizer_tests_dir() / "ggml-vocab-deepseek-llm.gguf");
    ASSERT_TRUE(tok);
    EXPECT_TRUE(tok->add_bos());
    const auto ids = tok->encode("Hello", true, false);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids[0], 100000u);
    EXPECT_EQ(tok->decode(ids), "Hello");
    EXPECT_TRUE(tok->is_eog(100001));
}

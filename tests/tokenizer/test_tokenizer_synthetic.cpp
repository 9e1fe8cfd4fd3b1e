// Pre-tokenizer splits of the families the shared vectors do not cover, and tiny
// hand-written vocabularies (written with GGUFWriter) that pin the merge rules, the
// metadata defaults and the error messages.
#include <gtest/gtest.h>

#include <functional>

#include "gguf/GGUFLoader.h"
#include "gguf/GGUFWriter.h"
#include "model/PreTokenizer.h"
#include "model/Tokenizer.h"
#include "model/Unicode.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

namespace {

std::vector<std::string> split(const char* pre, std::string_view text) {
    auto p = PreTokenizer::from_name(pre, "test");
    EXPECT_TRUE(p) << p.error().to_string();
    return p ? p->split(text) : std::vector<std::string>{};
}
using V = std::vector<std::string>;

}  // namespace

TEST(PreTokenizer, Llama3AndQwen2) {
    const char* text = "Hello, y'all! 123456\n\n  x";
    EXPECT_EQ(split("llama-bpe", text), (V{"Hello", ",", " y", "'all", "!", " ", "123", "456", "\n\n", " ", " x"}));
    EXPECT_EQ(split("qwen2", text), (V{"Hello", ",", " y", "'all", "!", " ", "1", "2", "3", "4", "5", "6", "\n\n", " ", " x"}));
    EXPECT_EQ(split("llama3", "I'M 'RE"), (V{"I", "'M", " '", "RE"}));  // case-insensitive contractions
}

TEST(PreTokenizer, Gpt2FamilyAndStarcoder) {
    EXPECT_EQ(split("gpt-2", "Hello, y'all! 123456"), (V{"Hello", ",", " y", "'", "all", "!", " 123456"}));
    EXPECT_EQ(split("gpt-2", "it's   ok"), (V{"it", "'s", "  ", " ok"}));
    EXPECT_EQ(split("refact", "ab 12"), (V{"ab", " ", "1", "2"}));  // digits split first
}

TEST(PreTokenizer, DeepseekCoderFalconDefault) {
    EXPECT_EQ(split("deepseek-coder", "Hello, y'all! 12"), (V{"Hello", ",", " y", "'", "all", "!", " ", "1", "2"}));
    EXPECT_EQ(split("falcon", "3333 x"), (V{"333", "3", " x"}));
    EXPECT_EQ(split("default", "a+=b 12345"), (V{"a", "+=", "b", " ", "123", "45"}));
}

TEST(PreTokenizer, DeepseekLlmClassesAndTrailingSpace) {
    // U+3000 (ideographic space) is whitespace: the optional \s before the punctuation run,
    // never part of a class; the later CJK pass ([ࠀ-一] spans U+0800..U+4E00) then splits U+3002 off.
    EXPECT_EQ(split("deepseek-llm", "ab\xe3\x80\x80\xe3\x80\x82  "), (V{"ab", "\xe3\x80\x80", "\xe3\x80\x82", "  "}));
    EXPECT_EQ(split("deepseek-llm", "x\xe3\x80\x80!? "), (V{"x", "\xe3\x80\x80!?", " "}));
    EXPECT_EQ(split("deepseek-llm", "\xe6\x88\x91\xe6\x83\xb3 go"), (V{"\xe6\x88\x91\xe6\x83\xb3", " go"}));
}

TEST(PreTokenizer, UnknownNameIsAnError) {
    auto p = PreTokenizer::from_name("no-such-pre", "m.gguf");
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, ErrorCode::Unsupported);
    EXPECT_NE(p.error().message.find("no-such-pre"), std::string::npos);
    EXPECT_NE(p.error().message.find("m.gguf"), std::string::npos);
}

TEST(Unicode, CategoriesAndStreamingTail) {
    EXPECT_TRUE(unicode::is_letter(U'\u00e9'));
    EXPECT_TRUE(unicode::is_letter(U'\u6211'));
    EXPECT_TRUE(unicode::is_number(U'\u0663'));  // ARABIC-INDIC DIGIT THREE
    EXPECT_TRUE(unicode::is_punctuation(U'\u3002'));
    EXPECT_TRUE(unicode::is_whitespace(0x3000));
    EXPECT_FALSE(unicode::is_whitespace(0x200B));  // zero width space is not White_Space
    EXPECT_EQ(unicode::cpt_class(0x1F999), unicode::UnicodeClass::kSymbol);
    EXPECT_EQ(unicode::cpt_class(0x110000), unicode::UnicodeClass::kUndefined);
    EXPECT_EQ(unicode::utf8_incomplete_tail("a\xf0\x9f"), 2u);
    EXPECT_EQ(unicode::utf8_incomplete_tail("a\xf0\x9f\xa6\x99"), 0u);
    EXPECT_EQ(unicode::utf8_incomplete_tail("\xe6"), 1u);
    EXPECT_EQ(unicode::utf8_to_cpts("a\xff"), (std::vector<uint32>{'a', unicode::kReplacementChar}));
}

namespace {

// Writes a vocabulary-only GGUF and loads a Tokenizer from it.
Expected<std::unique_ptr<Tokenizer>> tokenizer_from(const GGUFWriter& w, const std::string& name) {
    const Path path = test::tmp_dir() / name;
    VKS_TRY(w.write(path));
    auto g = GGUFLoader::open(path, GGUFOpenOptions{.allow_quantized = true});
    if (!g) return g.error();
    return Tokenizer::from_gguf(**g);
}

// Tiny SPM vocabulary: <unk> <s> </s>, 256 byte tokens, then "▁", "a", "b", "▁a", "ab".
GGUFWriter spm_writer(float score_space_a, float score_ab) {
    std::vector<std::string> toks = {"<unk>", "<s>", "</s>"};
    std::vector<double> scores = {0, 0, 0};
    std::vector<int64> types = {2, 3, 3};
    static const char* hex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) {
        toks.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
        scores.push_back(0);
        types.push_back(6);
    }
    for (auto [t, s] : std::vector<std::pair<std::string, float>>{
             {"\xe2\x96\x81", -1}, {"a", -2}, {"b", -3}, {"\xe2\x96\x81" "a", score_space_a}, {"ab", score_ab}}) {
        toks.push_back(t);
        scores.push_back(s);
        types.push_back(1);
    }
    GGUFWriter w;
    w.add("tokenizer.ggml.model", gguf_string("llama"));
    w.add("tokenizer.ggml.tokens", gguf_string_array(toks));
    w.add("tokenizer.ggml.scores", gguf_float_array(GGUFType::F32, scores));
    w.add("tokenizer.ggml.token_type", gguf_int_array(GGUFType::I32, types));
    return w;
}

// Tiny byte-level BPE vocabulary: the 256 byte symbols, "bc", "abc", a CONTROL BOS; merges
// "b c" (rank 0) and "a b" (rank 1).
GGUFWriter bpe_writer(const char* pre) {
    std::vector<std::string> toks;
    for (int b = 0; b < 256; ++b) toks.push_back(unicode::byte_to_utf8(static_cast<uint8>(b)));
    toks.push_back("bc");               // 256
    toks.push_back("abc");              // 257
    toks.push_back("<|begin_of_text|>");  // 258
    std::vector<int64> types(toks.size(), 1);
    types[258] = 3;
    GGUFWriter w;
    w.add("tokenizer.ggml.model", gguf_string("gpt2"));
    w.add("tokenizer.ggml.pre", gguf_string(pre));
    w.add("tokenizer.ggml.tokens", gguf_string_array(toks));
    w.add("tokenizer.ggml.token_type", gguf_int_array(GGUFType::I32, types));
    w.add("tokenizer.ggml.merges", gguf_string_array({"b c", "a b"}));
    w.add("tokenizer.ggml.bos_token_id", gguf_u32(258));
    w.add("tokenizer.ggml.eos_token_id", gguf_u32(258));
    return w;
}

}  // namespace

TEST(TokenizerSynthetic, SpmMergesBestScoreFirstAndFallsBackToBytes) {
    const uint32 kSpace = 259, kA = 260, kB = 261, kSpaceA = 262, kAB = 263;
    auto t1 = tokenizer_from(spm_writer(/*▁a=*/-0.5f, /*ab=*/-0.1f), "spm1.gguf");
    ASSERT_TRUE(t1) << t1.error().to_string();
    EXPECT_EQ((*t1)->encode("ab", false, false), (std::vector<uint32>{kSpace, kAB}));  // "ab" scores higher
    auto t2 = tokenizer_from(spm_writer(-0.1f, -0.5f), "spm2.gguf");
    ASSERT_TRUE(t2) << t2.error().to_string();
    EXPECT_EQ((*t2)->encode("ab", false, false), (std::vector<uint32>{kSpaceA, kB}));
    // Defaults without metadata: BOS 1 added, EOS 2, space prefix on.
    EXPECT_EQ((*t2)->encode("a", true, false), (std::vector<uint32>{1, kSpaceA}));
    // "é" is not a token: its two bytes as <0xC3><0xA9>.
    EXPECT_EQ((*t2)->encode("\xc3\xa9", false, false), (std::vector<uint32>{kSpace, 3 + 0xC3, 3 + 0xA9}));
    EXPECT_EQ((*t2)->decode({kSpace, 3 + 0xC3, 3 + 0xA9}), "\xc3\xa9");
    (void)kA;
}

TEST(TokenizerSynthetic, BpeRanksAndLlama3IgnoreMerges) {
    auto gpt2 = tokenizer_from(bpe_writer("gpt-2"), "bpe_gpt2.gguf");
    ASSERT_TRUE(gpt2) << gpt2.error().to_string();
    // "b c" has the better rank, so "abc" never forms through merges: [a, bc].
    // (byte-order vocabulary: 'a' is id 97)
    EXPECT_EQ((*gpt2)->encode("abc", true, false), (std::vector<uint32>{'a', 256}));
    EXPECT_FALSE((*gpt2)->add_bos());
    auto llama3 = tokenizer_from(bpe_writer("llama-bpe"), "bpe_llama3.gguf");
    ASSERT_TRUE(llama3) << llama3.error().to_string();
    // llama3 looks whole words up first and adds BOS by default.
    EXPECT_EQ((*llama3)->encode("abc", true, false), (std::vector<uint32>{258, 257}));
    EXPECT_EQ((*llama3)->decode({258, 257}), "abc");
    EXPECT_EQ((*llama3)->encode("<|begin_of_text|>abc", false, true), (std::vector<uint32>{258, 257}));
}

TEST(TokenizerSynthetic, MetadataErrorsNameTheKey) {
    struct Case {
        const char* name;
        std::function<void(GGUFWriter&)> edit;
        const char* expect;  // substring of the error message
    };
    const std::vector<Case> cases = {
        {"model", [](GGUFWriter& w) { w.set("tokenizer.ggml.model", gguf_string("bert")); }, "tokenizer.ggml.model"},
        {"pre", [](GGUFWriter& w) { w.set("tokenizer.ggml.pre", gguf_string("mystery")); }, "mystery"},
        {"merges", [](GGUFWriter& w) { w.set("tokenizer.ggml.merges", gguf_string("x")); }, "tokenizer.ggml.merges"},
        {"types", [](GGUFWriter& w) { w.set("tokenizer.ggml.token_type", gguf_int_array(GGUFType::I32, {1, 1})); },
         "tokenizer.ggml.token_type"},
        {"tokens", [](GGUFWriter& w) { w.set("tokenizer.ggml.tokens", gguf_u32(3)); }, "tokenizer.ggml.tokens"},
    };
    for (const Case& c : cases) {
        GGUFWriter w = bpe_writer("gpt-2");
        c.edit(w);
        auto t = tokenizer_from(w, std::string("bad_") + c.name + ".gguf");
        ASSERT_FALSE(t) << c.name;
        EXPECT_NE(t.error().message.find(c.expect), std::string::npos) << c.name << ": " << t.error().message;
        EXPECT_NE(t.error().message.find("bad_"), std::string::npos) << "error must name the file: " << t.error().message;
    }
}

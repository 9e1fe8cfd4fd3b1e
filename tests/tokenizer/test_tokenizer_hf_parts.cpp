// The parts of a tokenizer.json pipeline on small inputs, each against what Hugging Face's
// tokenizers library does: normalizers, pre-tokenizers (every split behaviour), decoders, the
// added-token matcher, Unicode normalization; then a whole Llama-2-style tokenizer.json
// (byte fallback, Prepend / Replace normalizer, template post-processor, Strip decoder)
// written to a temporary folder.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model/HfAddedTokens.h"
#include "model/HfDecoder.h"
#include "model/HfNormalizer.h"
#include "model/HfPreTokenizer.h"
#include "model/HfTokenizerFolder.h"
#include "model/Unicode.h"
#include "model/UnicodeNorm.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using Json = nlohmann::json;

namespace {

const std::string kSp = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space

std::vector<std::string> pre_split(const Json& pre, const std::string& text, bool at_start = true) {
    auto p = HfPreTokenizer::from_json(pre, "test");
    EXPECT_TRUE(p) << p.error().to_string();
    if (!p) return {};
    std::vector<HfPiece> pieces{{text, at_start}};
    p->apply(pieces);
    std::vector<std::string> out;
    for (const HfPiece& piece : pieces) out.push_back(piece.text);
    return out;
}

Json split(const std::string& pattern, const std::string& behavior) {
    return {{"type", "Split"}, {"pattern", {{"String", pattern}}}, {"behavior", behavior}, {"invert", false}};
}

std::string nfc(const std::vector<uint32>& cpts) {
    const auto n = unicode::to_nfc(cpts);
    return unicode::cpts_to_utf8(n.data(), n.size());
}

}  // namespace

TEST(HfPreTokenizer, SplitBehaviours) {
    // "a  b": matches " " at 1 and 2. A match joins its neighbour only if that is no match.
    EXPECT_EQ(pre_split(split(" ", "Removed"), "a  b"), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(pre_split(split(" ", "Isolated"), "a  b"), (std::vector<std::string>{"a", " ", " ", "b"}));
    EXPECT_EQ(pre_split(split(" ", "MergedWithPrevious"), "a  b"), (std::vector<std::string>{"a ", " ", "b"}));
    EXPECT_EQ(pre_split(split(" ", "MergedWithNext"), "a  b"), (std::vector<std::string>{"a", " ", " b"}));
    EXPECT_EQ(pre_split(split(" ", "Contiguous"), "a  b"), (std::vector<std::string>{"a", "  ", "b"}));
    EXPECT_EQ(pre_split(split(" ", "MergedWithPrevious"), " a"), (std::vector<std::string>{" ", "a"}));
}

TEST(HfPreTokenizer, ByteLevelMetaspaceDigitsWhitespace) {
    const Json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
    EXPECT_EQ(pre_split(byte_level, "Hi there!"), (std::vector<std::string>{"\xc4\xa0Hi", "\xc4\xa0there", "!"}));  // Ġ = ' '
    const Json no_regex = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
    EXPECT_EQ(pre_split(no_regex, "a b\n"), (std::vector<std::string>{"a\xc4\xa0" "b\xc4\x8a"}));  // Ċ = '\n'

    const Json first = {{"type", "Metaspace"}, {"replacement", kSp}, {"prepend_scheme", "first"}, {"split", true}};
    EXPECT_EQ(pre_split(first, "a b"), (std::vector<std::string>{kSp + "a", kSp + "b"}));
    EXPECT_EQ(pre_split(first, "a b", /*at_start=*/false), (std::vector<std::string>{"a", kSp + "b"}));
    const Json never = {{"type", "Metaspace"}, {"replacement", kSp}, {"prepend_scheme", "never"}, {"split", false}};
    EXPECT_EQ(pre_split(never, "a b"), (std::vector<std::string>{"a" + kSp + "b"}));

    EXPECT_EQ(pre_split({{"type", "Digits"}, {"individual_digits", true}}, "a12b"), (std::vector<std::string>{"a", "1", "2", "b"}));
    EXPECT_EQ(pre_split({{"type", "Digits"}, {"individual_digits", false}}, "a12b"), (std::vector<std::string>{"a", "12", "b"}));
    EXPECT_EQ(pre_split({{"type", "WhitespaceSplit"}}, " a \t b "), (std::vector<std::string>{"a", "b"}));
    const Json seq = {{"type", "Sequence"}, {"pretokenizers", {split(" ", "Removed"), {{"type", "Digits"}, {"individual_digits", true}}}}};
    EXPECT_EQ(pre_split(seq, "x1 2"), (std::vector<std::string>{"x", "1", "2"}));
}

TEST(HfNormalizer, StepsInOrder) {
    const Json j = {{"type", "Sequence"},
                    {"normalizers",
                     {{{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}},
                      {{"type", "Prepend"}, {"prepend", kSp}},
                      {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSp}},
                      {{"type", "NFC"}}}}};
    auto n = HfNormalizer::from_json(j, "test");
    ASSERT_TRUE(n) << n.error().to_string();
    EXPECT_EQ(n->apply("  a e\xcc\x81 \t"), kSp + "a" + kSp + "\xc3\xa9");  // e + U+0301 -> é
    EXPECT_EQ(n->apply(" \t "), "");                                           // Prepend leaves empty text alone
    EXPECT_EQ(n->apply("\xff"), kSp + "\xef\xbf\xbd");                          // invalid UTF-8 -> U+FFFD
    auto nfd = HfNormalizer::from_json({{"type", "NFD"}}, "test");
    ASSERT_TRUE(nfd);
    EXPECT_EQ(nfd->apply("\xc3\xa9"), "e\xcc\x81");
}

TEST(UnicodeNorm, CompositionDecompositionOrdering) {
    EXPECT_EQ(nfc({'e', 0x301}), "\xc3\xa9");
    EXPECT_EQ(nfc({0x1100, 0x1161, 0x11A8}), "\xea\xb0\x81");               // Hangul L V T -> 각
    EXPECT_EQ(nfc({0x212B}), "\xc3\x85");                                    // Angstrom sign -> Å (singleton)
    EXPECT_EQ(nfc({0x915, 0x93C}), "\xe0\xa4\x95\xe0\xa4\xbc");              // excluded from composition
    EXPECT_EQ(nfc({0x1E0B, 0x323}), "\xe1\xb8\x8d\xcc\x87");                 // ḋ + dot below -> ḍ + dot above
    EXPECT_EQ(nfc({'a', 0x301, 0x301}), "\xc3\xa1\xcc\x81");                 // the second acute is blocked
    EXPECT_EQ(unicode::to_nfd({0xE0}), (std::vector<uint32>{'a', 0x300}));
    EXPECT_EQ(unicode::combining_class(0x301), 230);
    EXPECT_EQ(unicode::combining_class('a'), 0);
}

TEST(HfDecoder, PiecesAndLeadingSpace) {
    const Json llama2 = {{"type", "Sequence"},
                         {"decoders",
                          {{{"type", "Replace"}, {"pattern", {{"String", kSp}}}, {"content", " "}},
                           {{"type", "ByteFallback"}},
                           {{"type", "Fuse"}},
                           {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
    auto d = HfDecoder::from_json(llama2, "test");
    ASSERT_TRUE(d) << d.error().to_string();
    EXPECT_EQ(d->piece(kSp + "ab"), " ab");
    EXPECT_EQ(d->piece("<0xE2>"), "\xe2");  // the exact byte, not U+FFFD
    EXPECT_EQ(d->piece("<0xZZ>"), "<0xZZ>");
    EXPECT_TRUE(d->strips_leading_space());
    auto bl = HfDecoder::from_json({{"type", "ByteLevel"}}, "test");
    ASSERT_TRUE(bl);
    EXPECT_EQ(bl->piece("\xc4\xa0Hi\xc4\x8a"), " Hi\n");
    EXPECT_EQ(bl->piece("a b"), "a b");  // ' ' is not a byte-level character: kept as is
    EXPECT_FALSE(bl->strips_leading_space());
    auto meta = HfDecoder::from_json({{"type", "Metaspace"}, {"replacement", kSp}, {"prepend_scheme", "always"}}, "test");
    ASSERT_TRUE(meta);
    EXPECT_EQ(meta->piece(kSp + "a"), " a");
    EXPECT_TRUE(meta->strips_leading_space());
}

TEST(HfAddedTokens, LeftmostLongestAndStripFlags) {
    std::vector<HfAddedToken> tokens = {
        {10, "<a>", true, false, false, false, false},
        {11, "<a><b>", true, false, false, false, false},
        {12, "<l>", false, true, false, false, false},   // lstrip
        {13, "<r>", false, false, true, false, false},   // rstrip
        {14, "word", false, false, false, true, false},  // single_word
    };
    AddedTokenMatcher m(tokens);
    auto ids = [&](const std::string& text, bool special) {
        std::vector<std::string> out;
        for (const auto& s : m.split(text, special)) out.push_back(s.id == kNoTokenId ? text.substr(s.begin, s.end - s.begin) : "#" + std::to_string(s.id));
        return out;
    };
    EXPECT_EQ(ids("x<a><b>y<a>", true), (std::vector<std::string>{"x", "#11", "y", "#10"}));
    EXPECT_EQ(ids("x<a><b>", false), (std::vector<std::string>{"x<a><b>"}));  // special: only when parsed
    EXPECT_EQ(ids("a \t<l> b", false), (std::vector<std::string>{"a", "#12", " b"}));
    EXPECT_EQ(ids("a <r> \n b", false), (std::vector<std::string>{"a ", "#13", "b"}));
    EXPECT_EQ(ids("a word, words", false), (std::vector<std::string>{"a ", "#14", ", words"}));
    EXPECT_EQ(ids("", true), std::vector<std::string>{});
}

// ---- a whole tokenizer.json in a folder ------------------------------------------------------

namespace {

// A Llama-2-style tokenizer.json: <unk> <s> </s>, the 256 byte tokens, then ▁ a b c ab ▁a ▁ab abc.
Json llama2_style() {
    Json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
    static const char* hex = "0123456789ABCDEF";
    for (int b = 0; b < 256; ++b) vocab[std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">"] = 3 + b;
    const std::vector<std::string> rest = {kSp, "a", "b", "c", "ab", kSp + "a", kSp + "ab", "abc"};
    for (size_t i = 0; i < rest.size(); ++i) vocab[rest[i]] = 259 + i;
    Json added = Json::array();
    for (int id = 0; id < 3; ++id)
        added.push_back({{"id", id}, {"content", id == 0 ? "<unk>" : id == 1 ? "<s>" : "</s>"}, {"special", true}, {"normalized", false}});
    return {
        {"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added},
        {"normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", kSp}},
                                                               {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSp}}}}}},
        {"pre_tokenizer", nullptr},
        {"post_processor", {{"type", "TemplateProcessing"},
                            {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                            {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
        {"decoder", {{"type", "Sequence"}, {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", kSp}}}, {"content", " "}},
                                                         {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                                                         {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
        {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", "<unk>"}, {"fuse_unk", true}, {"byte_fallback", true},
                   {"vocab", vocab}, {"merges", Json::array({Json::array({"a", "b"}), Json::array({kSp, "a"}), Json::array({kSp + "a", "b"}),
                                                            Json::array({"ab", "c"})})}}},
    };
}

Expected<std::unique_ptr<Tokenizer>> load_json(const std::string& name, const Json& j) {
    const Path dir = test::tmp_dir() / name;
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "tokenizer.json") << j.dump();
    return load_hf_tokenizer(dir);
}

}  // namespace

TEST(HfTokenizerJson, Llama2StyleByteFallback) {
    auto tok = load_json("llama2-style", llama2_style());
    ASSERT_TRUE(tok) << tok.error().to_string();
    const Tokenizer& t = **tok;
    // "ab c" -> "▁ab▁c": a+b merges first (rank 0), so "▁a" (rank 1) never forms.
    EXPECT_EQ(t.encode("ab c", false, false), (std::vector<uint32>{259, 263, 259, 262}));
    EXPECT_EQ(t.encode("ab c", true, false), (std::vector<uint32>{1, 259, 263, 259, 262}));
    EXPECT_EQ(t.encode("abc", false, false), (std::vector<uint32>{259, 266}));
    EXPECT_EQ(t.decode(t.encode("ab c", true, false)), "ab c");  // the Strip decoder drops the prefix space
    EXPECT_EQ(t.decode({262}, DecodeStart::Continuation), "c");
    // é is not in the vocabulary: its two bytes' tokens, decoded back exactly.
    const auto e = t.encode("\xc3\xa9", false, false);
    EXPECT_EQ(e, (std::vector<uint32>{259, 3 + 0xC3, 3 + 0xA9}));
    EXPECT_EQ(t.decode(e), "\xc3\xa9");
    EXPECT_TRUE(t.add_bos());
    EXPECT_EQ(t.unk_id(), std::optional<uint32>(0));

    // The same merges written as "a b" strings give the same tokenizer.
    Json strings = llama2_style();
    strings["model"]["merges"] = Json::array({"a b", kSp + " a", kSp + "a b", "ab c"});
    auto same = load_json("llama2-style-string-merges", strings);
    ASSERT_TRUE(same) << same.error().to_string();
    EXPECT_EQ((*same)->encode("ab c abc", false, false), t.encode("ab c abc", false, false));
}

TEST(HfTokenizerJson, UnknownCharactersFuseWithoutByteFallback) {
    Json j = llama2_style();
    j["model"]["byte_fallback"] = false;
    auto tok = load_json("no-byte-fallback", j);
    ASSERT_TRUE(tok) << tok.error().to_string();
    EXPECT_EQ((*tok)->encode("a\xc3\xa9\xc3\xa8", false, false), (std::vector<uint32>{264, 0}));  // ▁a, one <unk> for "éè"
    j["model"]["fuse_unk"] = false;
    auto unfused = load_json("no-fuse-unk", j);
    ASSERT_TRUE(unfused) << unfused.error().to_string();
    EXPECT_EQ((*unfused)->encode("a\xc3\xa9\xc3\xa8", false, false), (std::vector<uint32>{264, 0, 0}));
}

TEST(HfTokenizerJson, MetaspacePrependsOnlyAtTheStart) {
    Json j = llama2_style();
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", kSp}, {"prepend_scheme", "first"}, {"split", false}};
    j["decoder"] = {{"type", "Metaspace"}, {"replacement", kSp}, {"prepend_scheme", "first"}, {"split", false}};
    auto tok = load_json("metaspace", j);
    ASSERT_TRUE(tok) << tok.error().to_string();
    EXPECT_EQ((*tok)->encode("ab c", false, false), (std::vector<uint32>{259, 263, 259, 262}));
    EXPECT_EQ((*tok)->encode("<s>ab", false, true), (std::vector<uint32>{1, 263}));  // after a special token: no "▁"
    EXPECT_EQ((*tok)->decode({259, 263, 259, 262}), "ab c");
    EXPECT_EQ((*tok)->decode({259, 263}, DecodeStart::Continuation), " ab");
}

// An added token with normalized: true is matched in the normalized text, against its
// normalized contents; one with normalized: false in the raw text.
TEST(HfTokenizerJson, NormalizedAddedTokens) {
    Json j = llama2_style();
    j["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSp}};
    j["added_tokens"].push_back({{"id", 267}, {"content", "a b"}, {"special", false}, {"normalized", true}});
    auto normalized = load_json("normalized-added", j);
    ASSERT_TRUE(normalized) << normalized.error().to_string();
    EXPECT_EQ((*normalized)->encode("ca" + kSp + "b", false, false), (std::vector<uint32>{262, 267}));  // "a▁b" after normalization
    EXPECT_EQ((*normalized)->encode("ca b", false, false), (std::vector<uint32>{262, 267}));
    j["added_tokens"].back()["normalized"] = false;
    auto raw = load_json("raw-added", j);
    ASSERT_TRUE(raw) << raw.error().to_string();
    EXPECT_EQ((*raw)->encode("ca b", false, false), (std::vector<uint32>{262, 267}));
    EXPECT_NE((*raw)->encode("ca" + kSp + "b", false, false).back(), 267u);  // the raw text has no "a b"
}

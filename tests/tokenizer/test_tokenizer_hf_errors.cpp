// Hostile Hugging Face tokenizer files: each is refused with an error that names the file and
// what is wrong or unsupported, never a crash.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model/HfTokenizerFolder.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using Json = nlohmann::json;

namespace {

// A minimal valid byte-level tokenizer.json: tokens "a", "b", "ab".
Json minimal() {
    return {{"added_tokens", Json::array()},
            {"normalizer", nullptr},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
            {"post_processor", nullptr},
            {"decoder", {{"type", "ByteLevel"}}},
            {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a b"}}}}};
}

Path folder_with(const std::string& name, const std::map<std::string, std::string>& files) {
    const Path dir = test::tmp_dir() / "hostile" / name;
    std::filesystem::create_directories(dir);
    for (const auto& [file, text] : files) std::ofstream(dir / file, std::ios::binary) << text;
    return dir;
}

// Loading the folder fails with a message that contains every one of `parts`.
void expect_error(const std::string& name, const std::map<std::string, std::string>& files, const std::vector<std::string>& parts) {
    const Path dir = folder_with(name, files);
    auto tok = load_hf_tokenizer(dir);
    ASSERT_FALSE(tok) << name << ": loaded";
    for (const std::string& p : parts) EXPECT_NE(tok.error().message.find(p), std::string::npos) << name << ": " << tok.error().message;
}

void expect_json_error(const std::string& name, const Json& j, const std::vector<std::string>& parts) {
    std::vector<std::string> with_file = parts;
    with_file.push_back("tokenizer.json");
    expect_error(name, {{"tokenizer.json", j.dump()}}, with_file);
}

}  // namespace

TEST(HfTokenizerErrors, TheMinimalFileLoads) {
    auto tok = load_hf_tokenizer(folder_with("minimal", {{"tokenizer.json", minimal().dump()}}));
    ASSERT_TRUE(tok) << tok.error().to_string();
    EXPECT_EQ((*tok)->encode("ab", false, false), std::vector<uint32>{2});
}

TEST(HfTokenizerErrors, MalformedFiles) {
    expect_error("no-files", {}, {"no tokenizer.json or tokenizer.model"});
    expect_error("bad-json", {{"tokenizer.json", "{\"model\": [1, 2"}}, {"tokenizer.json", "not valid JSON"});
    expect_error("not-object", {{"tokenizer.json", "[1, 2]"}}, {"tokenizer.json", "expected a JSON object"});
    Json j = minimal();
    j.erase("model");
    expect_json_error("no-model", j, {"model: required field missing"});
    j = minimal();
    j["model"]["vocab"]["huge"] = 4000000000u;
    expect_json_error("huge-id", j, {"model.vocab['huge']", "is not below"});
    j = minimal();
    j["model"]["merges"] = {"a c"};
    expect_json_error("merge-not-in-vocab", j, {"model.merges[0]", "'c' is not in the vocabulary"});
    j = minimal();
    j["model"]["merges"] = {"ab"};
    expect_json_error("merge-one-token", j, {"model.merges[0]", "two tokens"});
    j = minimal();
    j["added_tokens"] = {{{"id", 0}, {"content", "<x>"}, {"special", true}}};
    expect_json_error("added-disagrees", j, {"added_tokens", "'<x>'", "disagrees"});
    j = minimal();
    j["added_tokens"] = {{{"content", "<x>"}}};
    expect_json_error("added-no-id", j, {"added_tokens[0].id: required field missing"});
    j = minimal();
    j["post_processor"] = {{"type", "TemplateProcessing"}, {"single", {{{"SpecialToken", {{"id", "<s>"}}}}}}, {"special_tokens", Json::object()}};
    expect_json_error("template-unknown-token", j, {"post_processor.single[0]", "'<s>' is not in special_tokens"});
}

TEST(HfTokenizerErrors, UnsupportedComponentsAreNamed) {
    Json j = minimal();
    j["model"]["type"] = "WordPiece";
    expect_json_error("wordpiece", j, {"model type 'WordPiece' is not supported"});
    j = minimal();
    j["pre_tokenizer"] = {{"type", "Whitespace"}};
    expect_json_error("whitespace", j, {"pre_tokenizer type 'Whitespace' is not supported"});
    j = minimal();
    j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Digits"}}, {{"type", "Punctuation"}}}}};
    expect_json_error("punctuation", j, {"pre_tokenizer.pretokenizers[1] type 'Punctuation' is not supported"});
    j = minimal();
    j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Isolated"}};
    expect_json_error("regex", j, {"pre_tokenizer.pattern.Regex", "'\\w+' is not supported"});
    j = minimal();
    j["normalizer"] = {{"type", "NFKC"}};
    expect_json_error("nfkc", j, {"normalizer type 'NFKC' is not supported"});
    j = minimal();
    j["decoder"] = {{"type", "WordPiece"}};
    expect_json_error("wordpiece-decoder", j, {"decoder type 'WordPiece' is not supported"});
    j = minimal();
    j["decoder"] = nullptr;
    expect_json_error("no-decoder", j, {"decoder: no decoder (null) is not supported"});
    j = minimal();
    j["post_processor"] = {{"type", "RobertaProcessing"}};
    expect_json_error("roberta", j, {"post_processor type 'RobertaProcessing' is not supported"});
    j = minimal();
    j["model"]["dropout"] = 0.1;
    expect_json_error("dropout", j, {"model.dropout", "not supported"});
    j = minimal();
    j["model"]["continuing_subword_prefix"] = "##";
    expect_json_error("subword-prefix", j, {"model.continuing_subword_prefix", "'##' is not supported"});
    j = minimal();
    j["truncation"] = {{"max_length", 512}};
    expect_json_error("truncation", j, {"truncation: only null is supported"});
}

TEST(HfTokenizerErrors, Configs) {
    const std::string tj = minimal().dump();
    expect_error("eos-not-a-token", {{"tokenizer.json", tj}, {"tokenizer_config.json", R"({"eos_token": "</s>"})"}},
                 {"eos_token '</s>'", "is not a token"});
    expect_error("config-bad-json", {{"tokenizer.json", tj}, {"tokenizer_config.json", "{"}}, {"tokenizer_config.json", "not valid JSON"});
    expect_error("add-bos-type", {{"tokenizer.json", tj}, {"tokenizer_config.json", R"({"add_bos_token": "yes"})"}},
                 {"tokenizer_config.json: add_bos_token", "expected true, false or null"});
    expect_error("generation-eos", {{"tokenizer.json", tj}, {"generation_config.json", R"({"eos_token_id": [1, "x"]})"}},
                 {"generation_config.json: eos_token_id[1]", "expected a token id"});
    expect_error("generation-eos-range", {{"tokenizer.json", tj}, {"generation_config.json", R"({"eos_token_id": 7})"}},
                 {"tokenizer.json", "end-of-generation token id 7 is not below the 3 tokens"});
}

TEST(HfTokenizerErrors, SentencePieceModels) {
    const std::string real = test::read_file(test::models_dir() / "hf" / "llama31" / "tokenizer.model");
    ASSERT_GT(real.size(), 100u);
    expect_error("spm-empty", {{"tokenizer.model", ""}}, {"tokenizer.model", "no pieces"});
    expect_error("spm-truncated", {{"tokenizer.model", real.substr(0, real.size() / 2)}}, {"tokenizer.model", "past the end"});
    expect_error("spm-garbage", {{"tokenizer.model", std::string("\x0f\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11)}},
                 {"tokenizer.model", "ModelProto"});
    // One piece, then a TrainerSpec with model_type UNIGRAM (field 3 = 1).
    const std::string unigram = std::string("\x0a\x05\x0a\x03<s>", 7) + std::string("\x12\x02\x18\x01", 4);
    expect_error("spm-unigram", {{"tokenizer.model", unigram}}, {"tokenizer.model", "model_type UNIGRAM is not supported"});
    expect_error("spm-added-clash", {{"tokenizer.model", real}, {"added_tokens.json", R"({"<x>": 1})"}},
                 {"added token '<x>' has id 1", "'<s>'"});
}

// `vk_symbiote tokenize --model DIR` on Hugging Face folders that hold only tokenizer files:
// a copy of ../shared/tokenizer-tests/hf/llama3 (tokenizer.json) and ../shared/models/hf/qwen2
// (tokenizer.model; its weights are not read).
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "support/RunCommand.h"
#include "support/TestPaths.h"
#include "support/TokenizerVectors.h"

using namespace vk_symbiote;

namespace {

using Cmd = test::CommandResult;

// Runs vk_symbiote with `args` (shell-quoted by the caller), capturing stdout.
Cmd run_cli(const std::string& args) { return test::run_command((Path(VKS_TEST_BINARY_DIR) / "vk_symbiote").string() + " " + args); }

std::string q(const std::string& s) { return "'" + s + "'"; }

}  // namespace

TEST(CliHfTokenizer, TokenizeAFolderWithOnlyTokenizerJson) {
    const Path dir = test::tmp_dir() / "llama3-tokenizer-only";
    std::filesystem::create_directories(dir);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        std::filesystem::copy_file(test::tokenizer_tests_dir() / "hf" / "llama3" / f, dir / f);
    // llama3.out's line for "Hello world" is "9906 1917"; special tokens in the text are parsed
    // unless --raw (and this tokenizer.json adds none around the text).
    Cmd c = run_cli("tokenize --model " + q(dir.string()) + " --prompt '<|begin_of_text|>Hello world'");
    EXPECT_EQ(c.status, 0);
    EXPECT_EQ(c.out, "128000 9906 1917\n");
    Cmd raw = run_cli("tokenize --raw --model " + q(dir.string()) + " --prompt '<|begin_of_text|>Hello world'");
    EXPECT_EQ(raw.status, 0);
    EXPECT_EQ(raw.out.find("128000"), std::string::npos);
    EXPECT_NE(raw.out.find(" 9906 1917\n"), std::string::npos);
}

TEST(CliHfTokenizer, TokenizeASentencePieceFolder) {
    const auto j = nlohmann::json::parse(test::read_file(test::reference_dir() / "hf" / "qwen2.json"));
    const std::string prompt = j.at("prompt").get<std::string>();
    ASSERT_EQ(prompt.find('\''), std::string::npos);  // quoted as is below
    Cmd c = run_cli("tokenize --model " + q((test::models_dir() / "hf" / "qwen2").string()) + " --prompt " + q(prompt));
    EXPECT_EQ(c.status, 0);
    EXPECT_EQ(c.out, test::ids_str(j.at("prompt_tokens").get<std::vector<uint32>>()) + "\n");
}

TEST(CliHfTokenizer, AFolderWithoutTokenizerFilesIsAnError) {
    const Path dir = test::tmp_dir() / "no-tokenizer-files";
    std::filesystem::create_directories(dir);
    Cmd c = run_cli("tokenize --model " + q(dir.string()) + " --prompt hi 2>&1");
    EXPECT_NE(c.status, 0);
    EXPECT_NE(c.out.find("no tokenizer.json or tokenizer.model"), std::string::npos) << c.out;
}

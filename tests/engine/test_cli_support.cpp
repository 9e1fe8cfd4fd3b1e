// engine/CliSupport: reading --prompt-file within its size limit.
#include <gtest/gtest.h>

#include <fstream>

#include "engine/CliSupport.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;

TEST(CliSupport, PromptFileIsReadExactlyUpToTheLimit) {
    const Path pf = test::tmp_dir() / "limit.txt";
    const std::string text(100, 'x');
    std::ofstream(pf, std::ios::binary) << text;
    auto ok = tool::read_prompt_file(pf.string(), 100);
    ASSERT_TRUE(ok) << ok.error().to_string();
    EXPECT_EQ(*ok, text);
    auto over = tool::read_prompt_file(pf.string(), 99);
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(over.error().message.find("limit.txt: --prompt-file is larger than the limit of 99 bytes"), std::string::npos)
        << over.error().message;
    auto dir = tool::read_prompt_file(test::tmp_dir().string());
    ASSERT_FALSE(dir);
    EXPECT_EQ(dir.error().code, ErrorCode::InvalidArgument);
    EXPECT_EQ(tool::kMaxPromptFileBytes, 64ull << 20);
}

// Issue 26, defect 9: `pack --no-compression` built a compressed cache; `pack` refused a
// missing --cache-dir that generate creates; pipeline_cache_path naming a directory left a
// ".tmp" beside it; --threads 4096 ran 4096 threads whatever the machine; perplexity
// printed "PPL: -nan" with status 0 for a model with a NaN weight.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "gguf/GGUFLoader.h"
#include "model/LoadedModel.h"
#include "model/ModelGenerator.h"
#include "packs/PackCache.h"
#include "packs/PackPlanner.h"
#include "support/RunCommand.h"
#include "support/TestPaths.h"
#include "vk_symbiote/ConfigManager.h"
#include "vk_symbiote/VulkanSymbioteEngine.h"

using namespace vk_symbiote;
namespace fs = std::filesystem;

namespace {

using Cmd = test::CommandResult;  // out: stdout and stderr

Cmd run(const std::string& cmd) { return test::run_command(cmd + " 2>&1"); }

std::string cli() { return (Path(VKS_TEST_BINARY_DIR) / "vk_symbiote").string(); }
std::string q(const Path& p) { return "'" + p.string() + "'"; }
Path stories() { return test::models_dir() / "stories260K.gguf"; }

Path fresh(const std::string& name) {
    const Path d = test::tmp_dir() / name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

}  // namespace

TEST(CliOptions, PackNoCompressionStoresEveryPackRawInACacheDirItCreates) {
    const Path dir = fresh("pack-raw") / "not" / "yet";
    Cmd c = run(cli() + " pack --no-compression --max-pack-mb 0.0625 --model " + q(stories()) + " --cache-dir " + q(dir));
    ASSERT_EQ(c.status, 0) << c.out;
    const Path cache = pack_cache_path(stories(), dir);
    ASSERT_TRUE(fs::exists(cache)) << c.out;
    EXPECT_NE(c.out.find("raw "), std::string::npos) << c.out;
    EXPECT_EQ(c.out.find("blosc"), std::string::npos) << c.out;
    auto g = GGUFLoader::open(stories());
    auto m = LoadedModel::open(stories(), false);
    ASSERT_TRUE(g && m);
    auto plan = plan_packs((*m)->registry(), {64 << 10});
    auto r = PackCacheReader::open(cache, **g, *plan);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ((*r)->codec_names(), std::vector<std::string>{"raw"});
    EXPECT_DOUBLE_EQ((*r)->ratio(), 1.0);
}

TEST(CliOptions, PipelineCachePathThatIsADirectoryIsAClearErrorAndLeavesNoTmp) {
    const Path dir = fresh("pipeline-dir");
    const Path target = dir / "cache-dir";
    fs::create_directories(target);
    const Path ini = dir / "c.ini";
    std::ofstream(ini) << "[performance]\npipeline_cache_path = " << target.string() << "\n";
    Cmd c = run(cli() + " --config " + q(ini) + " --model " + q(stories()) + " --prompt hi --max-tokens 2");
    EXPECT_EQ(c.status, 1) << c.out;
    EXPECT_NE(c.out.find("pipeline_cache_path = " + target.string() + ": is a directory"), std::string::npos) << c.out;
    for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
    EXPECT_TRUE(fs::is_empty(target));
}

// Capped at the hardware thread count, with a warning (documented in the option's help).
TEST(CliOptions, ThreadsAboveTheHardwareAreCapped) {
    ConfigManager cfg;
    ASSERT_TRUE(cfg.load(std::vector<std::string>{"--disable-gpu", "--threads", "4096", "--log-level", "ERROR"},
                         [](std::string_view) { return std::optional<std::string>(); }));
    auto e = VulkanSymbioteEngine::create(stories(), cfg);
    ASSERT_TRUE(e) << e.error().to_string();
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    EXPECT_NE((*e)->describe().find("(" + std::to_string(hw) + " threads"), std::string::npos) << (*e)->describe();
    Cmd c = run(cli() + " --disable-gpu --threads 4096 --model " + q(stories()) + " --prompt hi --max-tokens 2");
    EXPECT_EQ(c.status, 0) << c.out;
    EXPECT_NE(c.out.find("--threads 4096 is more than this machine's " + std::to_string(hw) + " hardware threads"), std::string::npos) << c.out;
}

TEST(CliOptions, PerplexityOfANanWeightFailsNamingTheTensor) {
    const Path dir = fresh("nan-weight");
    auto shape = model_shape_preset("tiny");
    ASSERT_TRUE(shape);
    const Path model = dir / "nan.gguf";
    ASSERT_TRUE(generate_model(*shape, DType::F32, model, 3));
    {
        auto m = LoadedModel::open(model, false);
        ASSERT_TRUE(m);
        const TensorDesc* t = (*m)->registry().find({TensorRole::Wdown, 1});
        ASSERT_NE(t, nullptr);
        std::fstream f(model, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(std::streamoff(t->file_offset + 5 * 4));
        const uint32 nan = 0x7fc00000;
        f.write(reinterpret_cast<const char*>(&nan), 4);
    }
    const Path text = dir / "text.txt";
    {
        std::ofstream o(text);
        for (int i = 0; i < 40; ++i) o << "the quick brown fox jumps over the lazy dog ";
    }
    Cmd c = run(cli() + " perplexity --disable-gpu --ctx-size 16 --model " + q(model) + " --prompt-file " + q(text));
    EXPECT_EQ(c.status, 1) << c.out;
    EXPECT_EQ(c.out.find("PPL:"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("are not finite"), std::string::npos) << c.out;
    EXPECT_NE(c.out.find("tensor 'blk.1.ffn_down.weight' (layer 1), element 5"), std::string::npos) << c.out;
}

// ShaderRuntime: hot reload from a shader directory (a changed kernel is used at the next
// lookup; a broken one keeps the old pipeline and reports the compile error) and the
// persistent pipeline cache file.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "VulkanTestEnv.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;
namespace fs = std::filesystem;

namespace {

void write_shader(const Path& p, const std::string& text, int bump_seconds) {
    std::ofstream(p, std::ios::trunc) << text;
    // mtime granularity: force a visibly newer time.
    fs::last_write_time(p, fs::file_time_type::clock::now() + std::chrono::seconds(bump_seconds));
}

std::string read_all(const Path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// y = 1 + x via op_add with the given runtime, returns y[0..n).
std::vector<float> run_add(VulkanEnv& env, ShaderRuntime& rt, uint32 n) {
    std::vector<float> xv(n, 3.0f), yv(n, 1.0f);
    auto x = env.upload(xv.data(), n * 4), y = env.upload(yv.data(), n * 4);
    auto cmd = env.compute->begin();
    EXPECT_TRUE(cmd);
    rt.begin(*cmd);
    OpContext c{rt, ShaderSpecialization{}, env.dummy.buffer, 65535};
    auto r = op_add(c, ActView{x.buffer, 0, 0}, ActView{y.buffer, 0, 0}, n);
    EXPECT_TRUE(r) << r.error().to_string();
    EXPECT_TRUE(env.compute->submit_and_wait());
    return env.download(y, n);
}

}  // namespace

TEST(ShaderRuntime, HotReloadSwapsPipelineAndKeepsOldOnError) {
    VKS_REQUIRE_VULKAN();
    const Path dir = tmp_dir() / "hot_shaders";
    fs::create_directories(dir);
    const std::string original = read_all(Path(VKS_SHADER_SOURCE_DIR) / "add.comp");
    ASSERT_NE(original.find("+= xbuf"), std::string::npos);
    std::ofstream(dir / "add.comp") << original;
    auto rt = ShaderRuntime::create(*env->dev, ShaderRuntimeOptions{dir, {}});
    ASSERT_TRUE(rt) << rt.error().to_string();
    EXPECT_EQ(run_add(*env, **rt, 100)[7], 4.0f);  // 1 + 3: the embedded kernel

    std::string scaled = original;
    scaled.replace(scaled.find("+= xbuf"), 7, "+= 2.0 * xbuf");
    write_shader(dir / "add.comp", scaled, 2);
    EXPECT_EQ(run_add(*env, **rt, 100)[7], 7.0f);  // 1 + 2 * 3: the recompiled kernel
    EXPECT_EQ((*rt)->reload_count(), 1u);
    EXPECT_TRUE((*rt)->last_error().empty());

    write_shader(dir / "add.comp", original + "\nthis is not glsl\n", 4);
    EXPECT_EQ(run_add(*env, **rt, 100)[7], 7.0f);  // the previous (scaled) pipeline stays
    EXPECT_EQ((*rt)->reload_count(), 1u);
    EXPECT_NE((*rt)->last_error().find("add.comp"), std::string::npos) << (*rt)->last_error();
    EXPECT_NE((*rt)->last_error().find("compile failed"), std::string::npos) << (*rt)->last_error();
}

TEST(ShaderRuntime, PipelineCacheIsWrittenAndReused) {
    VKS_REQUIRE_VULKAN();
    const Path cache = tmp_dir() / "pipelines.cache";
    {
        auto rt = ShaderRuntime::create(*env->dev, ShaderRuntimeOptions{{}, cache});
        ASSERT_TRUE(rt) << rt.error().to_string();
        EXPECT_NE((*rt)->get_rms_norm_pipeline(ShaderSpecialization{}), VK_NULL_HANDLE);
        EXPECT_NE((*rt)->get_attention_pipeline(ShaderSpecialization{}), VK_NULL_HANDLE);
        EXPECT_NE((*rt)->get_fused_matmul_rope_pipeline(ShaderSpecialization{}, DType::BF16), VK_NULL_HANDLE);
        EXPECT_NE((*rt)->get_feedforward_pipeline(ShaderSpecialization{}, DType::F16), VK_NULL_HANDLE);
    }
    ASSERT_TRUE(fs::exists(cache));
    EXPECT_GT(fs::file_size(cache), 0u);
    EXPECT_FALSE(fs::exists(Path(cache.string() + ".tmp")));
    // A garbage cache file is ignored (the driver rejects its header), not an error.
    std::ofstream(cache, std::ios::trunc) << "garbage";
    auto rt = ShaderRuntime::create(*env->dev, ShaderRuntimeOptions{{}, cache});
    ASSERT_TRUE(rt) << rt.error().to_string();
    EXPECT_NE((*rt)->get_rms_norm_pipeline(ShaderSpecialization{}), VK_NULL_HANDLE);
}

TEST(ShaderRuntime, OversizedWorkgroupIsReported) {
    VKS_REQUIRE_VULKAN();
    ShaderSpecialization s;
    s.workgroup_size_x = 4096;
    s.workgroup_size_y = 4096;
    EXPECT_EQ(env->rt->get_rms_norm_pipeline(s), VK_NULL_HANDLE);
    EXPECT_NE(env->rt->last_error().find("workgroup size"), std::string::npos);
}

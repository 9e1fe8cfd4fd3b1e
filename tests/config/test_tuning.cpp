// The [tuning] section: the A/B knobs are options like any other (INI, environment under
// their historical VK_SYMBIOTE_* names, command line, dump, --help-all), with the same errors.
#include <gtest/gtest.h>

#include "config/OptionTable.h"
#include "ConfigTestUtil.h"

using namespace vk_symbiote;
using namespace vk_symbiote::test;

TEST(ConfigTuning, DefaultsAreTheEnginesOwn) {
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {}).has_value());
    const TuningConfig& t = cfg.tuning();
    EXPECT_EQ(t.cpu_prefetch_bytes, -1);
    EXPECT_TRUE(t.cpu_batch);
    EXPECT_TRUE(t.zero_copy);
    EXPECT_TRUE(t.cooperative_matrix);
    EXPECT_EQ(t.stream_slots, 0u);
    EXPECT_EQ(t.hybrid_split, "auto");
    EXPECT_EQ(t.kv_cache, "f16");
    EXPECT_EQ(t.cpu_layers, -1);
    EXPECT_EQ(t.cpu_heads, -1);
    EXPECT_EQ(t.io_threads, 4u);
    EXPECT_EQ(t.io_staging_mb, 16u);
}

TEST(ConfigTuning, SettableFromIniEnvAndCommandLine) {
    const Path ini = write_ini("tuning.ini", "[tuning]\nstream_slots = 3\nhybrid_split = layers\nio_threads = 2\n");
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {"--config", ini.string(), "--io-threads", "8", "--kv-cache", "f32", "--no-zero-copy"},
                     {{"VK_SYMBIOTE_CPU_HEADS", "12"}, {"VK_SYMBIOTE_IO_THREADS", "6"}, {"VK_SYMBIOTE_NO_COOPMAT", "1"}})
                    .has_value());
    const TuningConfig& t = cfg.tuning();
    EXPECT_EQ(t.stream_slots, 3u);         // INI
    EXPECT_EQ(t.hybrid_split, "layers");   // INI
    EXPECT_EQ(t.cpu_heads, 12);            // env
    EXPECT_EQ(t.io_threads, 8u);           // command line beats env beats INI
    EXPECT_EQ(t.kv_cache, "f32");
    EXPECT_FALSE(t.zero_copy);             // --no-zero-copy
    EXPECT_FALSE(t.cooperative_matrix);    // VK_SYMBIOTE_NO_COOPMAT=1 negates
    ConfigManager off;
    ASSERT_TRUE(load(off, {}, {{"VK_SYMBIOTE_NO_ZERO_COPY", "0"}}).has_value());
    EXPECT_TRUE(off.tuning().zero_copy);
    ASSERT_TRUE(off.set("tuning.copy_chunk_mb", "0.5").has_value());
    EXPECT_EQ(off.tuning().copy_chunk_mb, 0.5);
}

TEST(ConfigTuning, MalformedValuesAreClearErrors) {
    expect_load_error({"--stream-slots", "9"}, ErrorCode::InvalidArgument, "--stream-slots: '9' is out of range [0, 8]");
    expect_load_error({"--rows-head", "gpu"}, ErrorCode::InvalidArgument, "--rows-head: 'gpu' is not one of auto,cpu,split");
    expect_load_error({}, ErrorCode::Config, "environment VK_SYMBIOTE_IO_STAGING_MB: '1k' is not a number",
                      {{"VK_SYMBIOTE_IO_STAGING_MB", "1k"}});
    expect_load_error({}, ErrorCode::Config, "environment VK_SYMBIOTE_NO_COOPMAT: 'sure' is not a boolean",
                      {{"VK_SYMBIOTE_NO_COOPMAT", "sure"}});
    const Path ini = write_ini("tuning_bad.ini", "[tuning]\ncpu_layers = -5\n");
    expect_load_error({"--config", ini.string()}, ErrorCode::Config, "[tuning] cpu_layers: '-5' is out of range [-1, 4096]");
    const Path typo = write_ini("tuning_typo.ini", "[tuning]\nfirst_submit = 1\n");
    expect_load_error({"--config", typo.string()}, ErrorCode::Config, "unknown key 'first_submit' in [tuning]");
}

TEST(ConfigTuning, ShownByHelpAllAndDump) {
    ConfigManager cfg;
    ASSERT_TRUE(load(cfg, {"--help-all"}).has_value());
    EXPECT_TRUE(cfg.help_requested());
    EXPECT_TRUE(cfg.help_all_requested());
    const std::string all = cfg.help_text("vk_symbiote", true);
    const std::string brief = cfg.help_text("vk_symbiote");
    EXPECT_NE(brief.find("--help-all"), std::string::npos);
    for (const config::OptionSpec& o : config::option_table()) {
        if (std::string_view(o.section) != "tuning") continue;
        EXPECT_NE(all.find(o.cli), std::string::npos) << o.dotted();
        EXPECT_NE(all.find(o.env), std::string::npos) << o.dotted();
        EXPECT_EQ(brief.find(o.cli), std::string::npos) << o.dotted() << " belongs to --help-all only";
    }
    EXPECT_NE(all.find("env VK_SYMBIOTE_NO_ZERO_COPY=1"), std::string::npos);

    ConfigManager a;
    ASSERT_TRUE(load(a, {"--cpu-layers", "5", "--prompt-upload", "dma"}).has_value());
    const std::string dump = a.dump();
    EXPECT_NE(dump.find("[tuning]\n"), std::string::npos) << dump;
    const Path p = write_ini("tuning_dump.ini", dump);
    ConfigManager b;
    ASSERT_TRUE(load(b, {"--config", p.string()}).has_value());
    EXPECT_EQ(b.tuning().cpu_layers, 5);
    EXPECT_EQ(b.tuning().prompt_upload, "dma");
}

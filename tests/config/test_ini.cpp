// INI layer: the parser's syntax, the seed doc's example file, every key, every error with
// file:line, and the dump -> INI round trip.
#include <gtest/gtest.h>

#include <sstream>

#include "ConfigTestUtil.h"
#include "config/IniParser.h"
#include "config/OptionTable.h"

namespace vk_symbiote::test {
namespace {

// Verbatim from the seed doc's "Configuration files use INI format" section.
const char* kSeedIni = R"([memory]
vram_budget_gb = 4
ram_budget_gb = 16
prefetch_lookahead = 3
eviction_aggression = 0.7
enable_compression = true
compression_algorithm = blosc2
max_packs_in_memory = 64
[performance]
enable_gpu = true
enable_profiling = false
workgroup_size_x = 16
workgroup_size_y = 16
use_subgroup_ops = true
use_fp16_math = true
scale_factor = 1.0
[logging]
log_level = INFO
log_to_file = false
log_file_path = vk_symbiote.log
log_performance = true
log_memory_usage = true
max_log_file_size_mb = 100
[model]
model_path = /path/to/model.gguf
)";

TEST(ConfigIni, ParserSyntax) {
    auto doc = config::parse_ini(
        "\xEF\xBB\xBF# comment\n; other comment\n\n[a]\nk1 = v1 # trailing\nk2=\"  spaced # kept \\\"q\\\" \\n\"  ; c\n"
        "k3 = C:\\path\\x\n  [ b ]  \nk1 =\nk4 = a#b\n",
        "t.ini");
    ASSERT_TRUE(doc.has_value()) << doc.error().to_string();
    ASSERT_EQ(doc->entries.size(), 5u);
    EXPECT_EQ(doc->entries[0].value, "v1");
    EXPECT_EQ(doc->entries[0].line, 5u);
    EXPECT_EQ(doc->entries[1].value, "  spaced # kept \"q\" \n");
    EXPECT_EQ(doc->entries[2].value, "C:\\path\\x");  // unquoted: backslashes literal
    EXPECT_EQ(doc->entries[3].section, "b");
    EXPECT_EQ(doc->entries[3].value, "");
    EXPECT_EQ(doc->entries[4].value, "a#b");  // '#' only starts a comment after whitespace
    ASSERT_EQ(doc->sections.size(), 2u);
    EXPECT_EQ(doc->sections[1].second, 8u);
}

TEST(ConfigIni, ParserErrors) {
    auto err = [](const char* text) {
        auto d = config::parse_ini(text, "config.ini");
        EXPECT_FALSE(d.has_value()) << text;
        if (d.has_value()) return std::string();
        EXPECT_EQ(d.error().code, ErrorCode::Config);
        return d.error().message;
    };
    EXPECT_EQ(err("k = v\n"), "config.ini:1: key 'k' appears before any [section]");
    EXPECT_EQ(err("[a]\njunk line\n"), "config.ini:2: expected 'key = value', got 'junk line'");
    EXPECT_EQ(err("[a\n"), "config.ini:1: malformed section header '[a'");
    EXPECT_EQ(err("[a] x\n"), "config.ini:1: malformed section header '[a] x'");
    EXPECT_EQ(err("[]\n"), "config.ini:1: malformed section name ''");
    EXPECT_EQ(err("[a]\nbad key = 1\n"), "config.ini:2: malformed key 'bad key'");
    EXPECT_EQ(err("[a]\nk = \"open\n"), "config.ini:2: unterminated quoted value for key 'k'");
    EXPECT_EQ(err("[a]\nk = \"x\" y\n"), "config.ini:2: unexpected text after quoted value: 'y' for key 'k'");
    EXPECT_EQ(err("[a]\nk = \"\\q\"\n"), "config.ini:2: unknown escape '\\q' in quoted value for key 'k'");
    EXPECT_EQ(err("[a]\nk = 1\n[b]\nk = 1\n[a]\nk = 2\n"),
              "config.ini:6: duplicate key 'k' in [a] (first set at line 2)");
}

TEST(ConfigIni, SeedDocExampleLoads) {
    Path p = write_ini("seed.ini", kSeedIni);
    ConfigManager cfg;
    ExpectedVoid r = load(cfg, {"--config", p.string()});
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    EXPECT_EQ(cfg.config_path(), p.string());
    EXPECT_EQ(cfg.model().model_path, "/path/to/model.gguf");
    EXPECT_EQ(cfg.memory().compression_algorithm, "blosc2");
    EXPECT_EQ(cfg.logging().log_level, "INFO");
    EXPECT_FALSE(cfg.logging().log_to_file);  // log_file_path in INI implies nothing
}

TEST(ConfigIni, EveryKeyParses) {
    Path p = write_ini("all.ini", R"(
[model]
model_path = tiny.gguf
models_dir = /models
chat_template_file = chat.jinja
[memory]
vram_budget_gb = 0.05
ram_budget_gb = 1.5
prefetch_lookahead = 4
eviction_aggression = 0.9
expert_half_life = 40
enable_compression = no
compression_algorithm = exponent
max_packs_in_memory = 10
max_pack_mb = 2
cache_dir = /tmp/c
direct_io = yes
compressed_reads = Never
kv_pool_tokens = 4096
[performance]
enable_gpu = off
enable_profiling = on
workgroup_size_x = 64
workgroup_size_y = 4
use_subgroup_ops = 0
use_fp16_math = false
scale_factor = 2.5
force_integrated_gpu = yes
device_index = 1
devices = 0,1
step_tokens = 64
parallel = 6
shader_dir = shaders
pipeline_cache_path = pc.bin
threads = 3
[tuning]
cpu_prefetch_bytes = 256
cpu_batch = false
zero_copy = false
cooperative_matrix = off
stream_slots = 2
hybrid_split = ROWS
rows_upload = dma
rows_head = split
prompt_upload = shader
kv_cache = f32
matvec_lanes = 128
smalln_tokens = 0
smalln_block = 8
smalln_kernel = Lanes
prompt_attn = Classic
moe_routing = Device
fuse_decode = Off
decode_pipeline = On
attn_split_k = 512
ram_kv_prompt = cpu
copy_groups = 4
rows_copy_groups = 64
copy_chunk_mb = 8
copy_budget = 1.5
cpu_layers = 3
cpu_heads = 20
io_threads = 2
io_staging_mb = 1
decode_threads = 3
force_streaming = yes
pipeline_exit_after = 4
pipeline_stall_after = 6
[logging]
log_level = debug
log_to_file = true
log_file_path = run.log
log_performance = false
log_memory_usage = false
max_log_file_size_mb = 5
verbose = true
[sampling]
prompt = "Once upon a time"
prompt_file = p.txt
max_tokens = 9
temperature = 1.25
top_k = 1
top_p = 0.8
min_p = 0
repeat_penalty = 1.3
repeat_last_n = 16
draft_ngram = true
draft_ngram_size = 4
draft_max = 12
draft_min = 3
draft_adaptive = false
draft_model = draft.gguf
seed = 42
ctx_size = 128
raw = true
stats = true
json = true
[server]
host = 0.0.0.0
port = 9000
api_key = k
max_body_mb = 2
max_tokens_limit = 100
max_queue = 7
prompt_cache = 3
template_file = t.jinja
vars_file = v.json
date = 2025-03-14

[pipeline]
enabled = true
budgets = 4:16,8:32:2
timeout_s = 2.5
)");
    ConfigManager cfg;
    ExpectedVoid r = load(cfg, {"--config=" + p.string()});
    ASSERT_TRUE(r.has_value()) << r.error().to_string();
    const Settings& s = cfg.settings();
    EXPECT_EQ(s.model.model_path, "tiny.gguf");
    EXPECT_EQ(s.model.models_dir, "/models");
    EXPECT_EQ(s.model.chat_template_file, "chat.jinja");
    EXPECT_EQ(s.memory.vram_budget_gb, 0.05);
    EXPECT_EQ(s.memory.ram_budget_gb, 1.5);
    EXPECT_EQ(s.memory.prefetch_lookahead, 4u);
    EXPECT_EQ(cfg.performance().prefetch_lookahead, 4u);
    EXPECT_FLOAT_EQ(s.memory.eviction_aggression, 0.9f);
    EXPECT_FLOAT_EQ(s.memory.expert_half_life, 40.0f);
    EXPECT_FALSE(s.memory.enable_compression);
    EXPECT_EQ(s.memory.compression_algorithm, "exponent");
    EXPECT_EQ(s.memory.max_packs_in_memory, 10u);
    EXPECT_EQ(s.memory.max_pack_mb, 2.0);
    EXPECT_EQ(s.memory.cache_dir, "/tmp/c");
    EXPECT_TRUE(s.memory.direct_io);
    EXPECT_EQ(s.memory.compressed_reads, "never");
    EXPECT_EQ(s.memory.kv_pool_tokens, 4096u);
    EXPECT_FALSE(s.performance.enable_gpu);
    EXPECT_TRUE(s.performance.enable_profiling);
    EXPECT_EQ(s.performance.workgroup_size_x, 64u);
    EXPECT_EQ(s.performance.workgroup_size_y, 4u);
    EXPECT_FALSE(s.performance.use_subgroup_ops);
    EXPECT_FALSE(s.performance.use_fp16_math);
    EXPECT_FLOAT_EQ(s.performance.scale_factor, 2.5f);
    EXPECT_TRUE(s.performance.force_integrated_gpu);
    EXPECT_EQ(s.performance.device_index, 1);
    EXPECT_EQ(s.performance.step_tokens, 64u);
    EXPECT_EQ(s.performance.parallel, 6u);
    EXPECT_EQ(s.performance.shader_dir, "shaders");
    EXPECT_EQ(s.performance.pipeline_cache_path, "pc.bin");
    EXPECT_EQ(s.performance.threads, 3u);
    EXPECT_EQ(s.logging.log_level, "DEBUG");
    EXPECT_TRUE(s.logging.log_to_file);
    EXPECT_EQ(s.logging.log_file_path, "run.log");
    EXPECT_FALSE(s.logging.log_performance);
    EXPECT_FALSE(s.logging.log_memory_usage);
    EXPECT_EQ(s.logging.max_log_file_size_mb, 5u);
    EXPECT_TRUE(s.logging.verbose);
    EXPECT_EQ(s.sampling.prompt, "Once upon a time");
    EXPECT_TRUE(s.sampling.prompt_set);
    EXPECT_EQ(s.sampling.prompt_file, "p.txt");
    EXPECT_EQ(s.sampling.max_tokens, 9u);
    EXPECT_FLOAT_EQ(s.sampling.temperature, 1.25f);
    EXPECT_EQ(s.sampling.top_k, 1u);
    EXPECT_FLOAT_EQ(s.sampling.top_p, 0.8f);
    EXPECT_EQ(s.sampling.min_p, 0.0f);
    EXPECT_FLOAT_EQ(s.sampling.repeat_penalty, 1.3f);
    EXPECT_EQ(s.sampling.repeat_last_n, 16u);
    EXPECT_TRUE(s.sampling.draft_ngram);
    EXPECT_EQ(s.sampling.draft_ngram_size, 4u);
    EXPECT_EQ(s.sampling.draft_max, 12u);
    EXPECT_EQ(s.sampling.draft_min, 3u);
    EXPECT_FALSE(s.sampling.draft_adaptive);
    EXPECT_EQ(s.sampling.draft_model, "draft.gguf");
    EXPECT_EQ(s.sampling.seed, 42u);
    EXPECT_TRUE(s.sampling.seed_set);
    EXPECT_EQ(s.sampling.ctx_size, 128u);
    EXPECT_TRUE(s.sampling.raw);
    EXPECT_TRUE(s.sampling.stats);
    EXPECT_TRUE(s.sampling.json);
    EXPECT_EQ(s.tuning.cpu_prefetch_bytes, 256);
    EXPECT_FALSE(s.tuning.cpu_batch);
    EXPECT_FALSE(s.tuning.zero_copy);
    EXPECT_FALSE(s.tuning.cooperative_matrix);
    EXPECT_EQ(s.tuning.stream_slots, 2u);
    EXPECT_EQ(s.tuning.hybrid_split, "rows");  // choices match case-insensitively
    EXPECT_EQ(s.tuning.rows_upload, "dma");
    EXPECT_EQ(s.tuning.rows_head, "split");
    EXPECT_EQ(s.tuning.prompt_upload, "shader");
    EXPECT_EQ(s.tuning.kv_cache, "f32");
    EXPECT_EQ(s.tuning.matvec_lanes, 128u);
    EXPECT_EQ(s.tuning.smalln_tokens, 0u);
    EXPECT_EQ(s.tuning.smalln_block, 8u);
    EXPECT_EQ(s.tuning.smalln_kernel, "lanes");
    EXPECT_EQ(s.tuning.prompt_attn, "classic");
    EXPECT_EQ(s.tuning.moe_routing, "device");
    EXPECT_EQ(s.tuning.fuse_decode, "off");
    EXPECT_EQ(s.tuning.decode_pipeline, "on");
    EXPECT_EQ(s.tuning.copy_groups, 4u);
    EXPECT_EQ(s.tuning.rows_copy_groups, 64u);
    EXPECT_EQ(s.tuning.copy_chunk_mb, 8.0);
    EXPECT_EQ(s.tuning.copy_budget, 1.5);
    EXPECT_EQ(s.performance.devices, "0,1");
    EXPECT_EQ(s.tuning.cpu_layers, 3);
    EXPECT_EQ(s.tuning.cpu_heads, 20);
    EXPECT_EQ(s.tuning.io_threads, 2u);
    EXPECT_EQ(s.tuning.io_staging_mb, 1u);
    EXPECT_EQ(s.tuning.decode_threads, 3u);
    EXPECT_EQ(s.server.host, "0.0.0.0");
    EXPECT_EQ(s.server.port, 9000u);
    EXPECT_EQ(s.server.api_key, "k");
    EXPECT_EQ(s.server.max_body_mb, 2.0);
    EXPECT_EQ(s.server.max_tokens_limit, 100u);
    EXPECT_EQ(s.server.max_queue, 7u);
    EXPECT_EQ(s.server.prompt_cache, 3u);
    EXPECT_EQ(s.server.template_file, "t.jinja");
    EXPECT_EQ(s.server.vars_file, "v.json");
    EXPECT_EQ(s.server.date, "2025-03-14");
    EXPECT_TRUE(s.tuning.force_streaming);
    EXPECT_EQ(s.tuning.pipeline_exit_after, 4u);
    EXPECT_EQ(s.tuning.pipeline_stall_after, 6u);
    EXPECT_EQ(s.tuning.attn_split_k, 512u);
    EXPECT_EQ(s.tuning.ram_kv_prompt, "cpu");
    EXPECT_TRUE(s.pipeline.enabled);
    EXPECT_EQ(s.pipeline.budgets, "4:16,8:32:2");
    EXPECT_EQ(s.pipeline.timeout_s, 2.5);

    // The file above names every key of the table exactly once.
    auto doc = config::read_ini_file(p);
    ASSERT_TRUE(doc.has_value());
    EXPECT_EQ(doc->entries.size(), config::option_table().size());
}

// Builds a file whose line `line` (1-based) is `text`, after a [memory] header.
std::string file_with_line(uint32 line, const std::string& text) {
    std::string s = "[memory]\n";
    for (uint32 i = 2; i < line; ++i) s += "# filler\n";
    return s + text + "\n";
}

TEST(ConfigIni, ErrorsNameFileAndLine) {
    using E = ErrorCode;
    Path p = write_ini("config.ini", file_with_line(12, "foo = 1"));
    expect_load_error({"--config", p.string()}, E::Config, "config.ini:12: unknown key 'foo' in [memory]");

    p = write_ini("config.ini", "[memory]\nvram_budget_gb = 2\n[gpu]\nx = 1\n");
    expect_load_error({"--config", p.string()}, E::Config, "config.ini:3: unknown section [gpu]");

    p = write_ini("config.ini", file_with_line(3, "vram_budget_gb = abc"));
    expect_load_error({"--config", p.string()}, E::Config,
                      "config.ini:3: [memory] vram_budget_gb: 'abc' is not a number");

    p = write_ini("config.ini", file_with_line(2, "ram_budget_gb = -4"));
    expect_load_error({"--config", p.string()}, E::Config, "config.ini:2: [memory] ram_budget_gb: '-4' is out of range");

    p = write_ini("config.ini", file_with_line(4, "eviction_aggression = 1.2"));
    expect_load_error({"--config", p.string()}, E::Config, "config.ini:4: [memory] eviction_aggression: '1.2' is out of range");

    p = write_ini("config.ini", "[performance]\nworkgroup_size_y = 0\n");
    expect_load_error({"--config", p.string()}, E::Config, "config.ini:2: [performance] workgroup_size_y: '0' is out of range");

    p = write_ini("config.ini", "[performance]\nenable_gpu = maybe\n");
    expect_load_error({"--config", p.string()}, E::Config, "config.ini:2: [performance] enable_gpu: 'maybe' is not a boolean");

    p = write_ini("config.ini", "[memory]\nvram_budget_gb = 1\nvram_budget_gb = 2\n");
    expect_load_error({"--config", p.string()}, E::Config, "config.ini:3: duplicate key 'vram_budget_gb' in [memory]");

    expect_load_error({"--config", (tmp_dir() / "missing.ini").string()}, E::Io, "missing.ini: config file not found");
    expect_load_error({}, E::Io, "missing.ini: config file not found or not a regular file (named by VK_SYMBIOTE_CONFIG)",
                      {{"VK_SYMBIOTE_CONFIG", (tmp_dir() / "missing.ini").string()}});
    expect_load_error({"--config", tmp_dir().string()}, E::Io, "not a regular file");
}

TEST(ConfigIni, ApplyIniFileIsAtomic) {
    ConfigManager cfg;
    Path bad = write_ini("partial.ini", "[memory]\nvram_budget_gb = 1\nram_budget_gb = x\n");
    ASSERT_FALSE(cfg.apply_ini_file(bad).has_value());
    EXPECT_EQ(cfg.memory().vram_budget_gb, 4.0);
    Path good = write_ini("good.ini", "[memory]\nvram_budget_gb = 1\n");
    ASSERT_TRUE(cfg.apply_ini_file(good).has_value());
    EXPECT_EQ(cfg.memory().vram_budget_gb, 1.0);
}

TEST(ConfigIni, FormatValueQuotesOnlyWhenNeeded) {
    EXPECT_EQ(config::ini_format_value("plain/path.gguf"), "plain/path.gguf");
    EXPECT_EQ(config::ini_format_value("a#b"), "a#b");
    EXPECT_EQ(config::ini_format_value(" lead"), "\" lead\"");
    EXPECT_EQ(config::ini_format_value("x ; y"), "\"x ; y\"");
    EXPECT_EQ(config::ini_format_value("line\nbreak \"q\" \\"), "\"line\\nbreak \\\"q\\\" \\\\\"");
}

// dump() without its comment lines (which name the file a config was loaded from).
std::string dump_body(const ConfigManager& c) {
    std::string out;
    std::istringstream in(c.dump());
    for (std::string line; std::getline(in, line);)
        if (line.rfind("#", 0) != 0) out += line + "\n";
    return out;
}

void expect_same_settings(const ConfigManager& a, const ConfigManager& b) {
    for (const config::OptionSpec& o : config::option_table())
        EXPECT_EQ(config::format_option(o, a.settings()), config::format_option(o, b.settings())) << o.dotted();
    EXPECT_EQ(a.sampling().prompt_set, b.sampling().prompt_set);
    EXPECT_EQ(a.sampling().seed_set, b.sampling().seed_set);
    EXPECT_EQ(dump_body(a), dump_body(b));
}

TEST(ConfigIni, DumpRoundTripsThroughTheIniParser) {
    ConfigManager a;
    ASSERT_TRUE(load(a, {"--vram-gb", "0.05", "--ram-gb", "0.3", "--eviction-aggression", "0.1",
                         "--temperature", "0.3", "--top-p", "0.95", "--workgroup-size", "8", "4", "--fp32",
                         "--prompt", "  Say \"hi\" # not a comment ; ok\n\tnext line\\", "--seed", "7",
                         "--log-file", "with space.log", "--model", "", "--device-index", "-1"})
                    .has_value());
    a.performance().scale_factor = 0.1f;  // float that is not exact in binary
    Path p = write_ini("dump.ini", a.dump());
    ConfigManager b;
    ExpectedVoid r = load(b, {"--config", p.string()});
    ASSERT_TRUE(r.has_value()) << r.error().to_string() << "\n" << a.dump();
    expect_same_settings(a, b);
    EXPECT_EQ(b.memory().vram_budget_gb, 0.05);
    EXPECT_EQ(b.performance().scale_factor, 0.1f);
    EXPECT_EQ(b.sampling().prompt, a.sampling().prompt);

    // Defaults round-trip too, and unset presence options stay unset.
    ConfigManager d;
    Path pd = write_ini("dump_default.ini", d.dump());
    ConfigManager e;
    ASSERT_TRUE(load(e, {"--config", pd.string()}).has_value());
    expect_same_settings(d, e);
    EXPECT_FALSE(e.sampling().prompt_set);
    EXPECT_FALSE(e.sampling().seed_set);
}

}  // namespace
}  // namespace vk_symbiote::test

// BenchReport: accounting (tiers add up, resident runs have no bus bytes, bounds), JSON
// fields against docs/benchmark-json.md both ways, the table, and the probe-cache JSON
// round trip. Synthetic inputs only: nothing here is timed.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "bench/BenchReport.h"
#include "gguf/GGUFLoader.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::bench;

namespace {

Bandwidth bw(double gbps) {
    Bandwidth b;
    b.gbps = gbps;
    b.measured = true;
    b.method = "synthetic";
    b.bytes = 1000;
    return b;
}

ProbeResults synthetic_probes() {
    ProbeResults p;
    p.machine_key = "host | cpu | dev";
    p.hostname = "host";
    p.cpu_model = "cpu";
    p.cpu_threads = 16;
    p.device_name = "dev";
    p.probed_at = "2026-01-01T00:00:00Z";
    p.disk_read = bw(5);
    p.host_memory = bw(100);
    p.host_to_device = bw(50);
    p.device_to_host = bw(40);
    p.device_memory = bw(2000);
    p.device_copy = bw(800);
    p.device_f16_matmul.measured = true;
    p.device_f16_matmul.tflops = 30;
    p.device_f16_matmul.flops = 1000;
    p.device_f16_matmul.method = "synthetic";
    return p;
}

}  // namespace

TEST(BenchStats, MedianMinMax) {
    Stats s = summarize({3, 1, 2});
    EXPECT_EQ(s.median, 2);
    EXPECT_EQ(s.min, 1);
    EXPECT_EQ(s.max, 3);
    s = summarize({4, 1, 3, 2});
    EXPECT_DOUBLE_EQ(s.median, 2.5);
    s = summarize({});
    EXPECT_EQ(s.median, 0);
}

TEST(BenchAccounting, CpuRunReadsEverythingFromRam) {
    PassTraffic t;
    t.gpu_compute = false;
    t.weight_bytes_touched = 8000;
    t.forward_passes = 8;
    t.tokens = 8;
    t.disk_bytes = 2000;
    TierBytes b = split_tiers(t);
    EXPECT_DOUBLE_EQ(b.ram, 1000);
    EXPECT_DOUBLE_EQ(b.vram, 0);
    EXPECT_DOUBLE_EQ(b.bus, 0);
    EXPECT_DOUBLE_EQ(b.disk, 250);
    EXPECT_DOUBLE_EQ(b.total_compute(), double(t.weight_bytes_touched) / double(t.tokens));
}

TEST(BenchAccounting, GpuTiersAddUpToWhatThePassesTouched) {
    PassTraffic t;
    t.gpu_compute = true;
    t.weight_bytes_touched = 10'000;
    t.tokens = 10;
    t.forward_passes = 10;
    t.uploaded_bytes = 6'000;
    t.cpu_compute_bytes = 1'000;
    t.disk_bytes = 500;
    TierBytes b = split_tiers(t);
    EXPECT_DOUBLE_EQ(b.bus, 600);
    EXPECT_DOUBLE_EQ(b.ram, 100);
    EXPECT_DOUBLE_EQ(b.vram, 300);
    EXPECT_DOUBLE_EQ(b.total_compute() * double(t.tokens), double(t.weight_bytes_touched));
    EXPECT_DOUBLE_EQ(b.disk, 50);
}

TEST(BenchAccounting, EverythingResidentMeansNoBusBytes) {
    PassTraffic t;
    t.gpu_compute = true;
    t.weight_bytes_touched = 4096;
    t.tokens = 4;
    t.forward_passes = 4;
    TierBytes b = split_tiers(t);
    EXPECT_EQ(b.bus, 0);
    EXPECT_EQ(b.disk, 0);
    EXPECT_DOUBLE_EQ(b.vram, 1024);
    Accounting a = compute_accounting(t, 1e6, synthetic_probes());
    EXPECT_EQ(a.bound_tier, "vram");
    EXPECT_EQ(a.bus.bytes_per_token, 0);
    EXPECT_EQ(a.bus.achieved_gbps, 0);
}

TEST(BenchAccounting, BoundIsTheSlowestTier) {
    // 1 GB per token from RAM at 100 GB/s -> 100 t/s; 0.1 GB from disk at 5 GB/s -> 50 t/s.
    PassTraffic t;
    t.weight_bytes_touched = 2'000'000'000;
    t.tokens = 2;
    t.forward_passes = 2;
    t.disk_bytes = 200'000'000;
    Accounting a = compute_accounting(t, 25, synthetic_probes());
    EXPECT_DOUBLE_EQ(a.ram.bytes_per_token, 1e9);
    EXPECT_NEAR(a.ram.max_tokens_per_second, 100, 1e-9);
    EXPECT_NEAR(a.disk.max_tokens_per_second, 50, 1e-9);
    EXPECT_EQ(a.bound_tier, "disk");
    EXPECT_NEAR(a.bound_tokens_per_second, 50, 1e-9);
    EXPECT_NEAR(a.fraction_of_bound, 0.5, 1e-12);
    EXPECT_NEAR(a.ram.achieved_gbps, 25, 1e-9);
    EXPECT_NEAR(a.disk.achieved_gbps, 2.5, 1e-9);
    EXPECT_DOUBLE_EQ(a.weight_bytes_per_token, 1e9);
}

TEST(BenchAccounting, MissingCeilingLeavesTheBoundUnknown) {
    ProbeResults p = synthetic_probes();
    p.host_to_device = Bandwidth{};  // no device
    PassTraffic t;
    t.gpu_compute = true;
    t.weight_bytes_touched = 1000;
    t.tokens = 1;
    t.forward_passes = 1;
    t.uploaded_bytes = 500;
    Accounting a = compute_accounting(t, 10, p);
    EXPECT_EQ(a.bound_tokens_per_second, 0);
    EXPECT_TRUE(a.bound_tier.empty());
    EXPECT_EQ(a.bus.ceiling_gbps, 0);
    EXPECT_GT(a.vram.max_tokens_per_second, 0);
}

TEST(BenchAccounting, NonResidentBoundUsesThePathTheBytesTake) {
    ProbeResults p = synthetic_probes();  // h2d 50 GB/s, host memory 100 GB/s
    PassTraffic t;
    t.gpu_compute = true;
    t.weight_bytes_touched = 4'000'000'000;
    t.tokens = 2;
    t.forward_passes = 2;
    t.uploaded_bytes = 1'000'000'000;  // 0.5 GB per token over the bus
    Accounting a = compute_accounting(t, 20, p);
    EXPECT_DOUBLE_EQ(a.non_resident.bytes_per_token, 5e8);
    EXPECT_EQ(a.non_resident.ceiling, "host_to_device");
    EXPECT_DOUBLE_EQ(a.non_resident.ceiling_gbps, 50);
    EXPECT_NEAR(a.non_resident.bound_tokens_per_second, 100, 1e-9);
    EXPECT_NEAR(a.non_resident.fraction_of_bound, 0.2, 1e-12);
    // Hybrid: 0.5 GB over the bus and 0.5 GB computed on by the CPU per token: both paths at once.
    t.cpu_compute_bytes = 1'000'000'000;
    a = compute_accounting(t, 20, p);
    EXPECT_DOUBLE_EQ(a.non_resident.bytes_per_token, 1e9);
    EXPECT_EQ(a.non_resident.ceiling, "host_to_device+host_memory");
    EXPECT_NEAR(a.non_resident.bound_tokens_per_second, 150, 1e-9);
    // CPU run: everything non-resident, read from RAM.
    PassTraffic c;
    c.weight_bytes_touched = 2'000'000'000;
    c.tokens = 2;
    c.forward_passes = 2;
    a = compute_accounting(c, 50, p);
    EXPECT_EQ(a.non_resident.ceiling, "host_memory");
    EXPECT_NEAR(a.non_resident.bound_tokens_per_second, 100, 1e-9);
    EXPECT_NEAR(a.non_resident.fraction_of_bound, 0.5, 1e-12);
    // Everything resident on the GPU: no non-resident bytes, no bound.
    PassTraffic r;
    r.gpu_compute = true;
    r.weight_bytes_touched = 1000;
    r.tokens = 1;
    r.forward_passes = 1;
    a = compute_accounting(r, 10, p);
    EXPECT_EQ(a.non_resident.bytes_per_token, 0);
    EXPECT_EQ(a.non_resident.bound_tokens_per_second, 0);
    EXPECT_TRUE(a.non_resident.ceiling.empty());
    // Streaming without a probed bus: unknown, not guessed.
    p.host_to_device = Bandwidth{};
    a = compute_accounting(t, 20, p);
    EXPECT_EQ(a.non_resident.bound_tokens_per_second, 0);
    EXPECT_EQ(a.non_resident.ceiling_gbps, 0);
}

TEST(BenchAccounting, PackCacheRatesAndKernelDeltas) {
    RunSample a, b;
    a.ram_pack_hits = 3;
    a.ram_pack_misses = 1;
    b.ram_pack_hits = 5;
    b.ram_pack_misses = 1;
    b.vram_pack_misses = 2;
    PackCacheFigures f = pack_cache_figures({a, b});
    EXPECT_EQ(f.ram_hits, 8u);
    EXPECT_EQ(f.ram_misses, 2u);
    EXPECT_DOUBLE_EQ(f.ram_hit_rate, 0.8);
    EXPECT_EQ(f.vram_hits, 0u);
    EXPECT_DOUBLE_EQ(f.vram_hit_rate, 0.0);
    EXPECT_EQ(pack_cache_figures({}).ram_hit_rate, 0.0);

    std::vector<KernelTime> before = {{"matvec_f16", 10, 1000}, {"add_f32", 4, 40}};
    std::vector<KernelTime> after = {{"matvec_f16", 30, 3000}, {"add_f32", 4, 40}, {"rmsnorm_f32", 5, 4000}};
    auto k = kernel_figures(before, after, 20, 8000);
    ASSERT_EQ(k.size(), 2u);  // add_f32 ran no dispatch in between
    EXPECT_EQ(k[0].name, "rmsnorm_f32");  // largest total first
    EXPECT_EQ(k[0].total_ns, 4000u);
    EXPECT_EQ(k[1].name, "matvec_f16");
    EXPECT_EQ(k[1].dispatches, 20u);
    EXPECT_EQ(k[1].total_ns, 2000u);
    EXPECT_DOUBLE_EQ(k[1].ns_per_token, 100);
    EXPECT_DOUBLE_EQ(k[1].fraction_of_gpu_time, 0.25);
}

TEST(BenchAccounting, WeightBytesTouchedFromARealModel) {
    auto g = GGUFLoader::open(test::models_dir() / "stories260K.gguf");
    ASSERT_TRUE(g) << g.error().to_string();
    auto cfg = ModelConfig::from_source(**g);
    ASSERT_TRUE(cfg) << cfg.error().to_string();
    auto reg = TensorRegistry::bind(*cfg, **g);
    ASSERT_TRUE(reg) << reg.error().to_string();
    const TensorDesc& embd = reg->get({TensorRole::TokenEmbd, -1});
    uint64 sum_other = 0;
    for (auto& d : reg->tensors())
        if (d.id.role != TensorRole::TokenEmbd) sum_other += d.byte_size;
    // One pass over 3 tokens: every non-embedding tensor once + 3 embedding rows.
    EXPECT_EQ(weight_bytes_touched(*reg, 1, 3), sum_other + 3 * embd.row_bytes());
    // Two passes (prompt batch + a decode) over 4 tokens.
    EXPECT_EQ(weight_bytes_touched(*reg, 2, 4), 2 * sum_other + 4 * embd.row_bytes());
    // Never more than the model per pass plus the rows.
    EXPECT_LE(weight_bytes_touched(*reg, 1, 1), reg->total_bytes() + embd.byte_size);
}

// ---- JSON vs docs/benchmark-json.md ---------------------------------------------------

namespace {

BenchReport synthetic_report() {
    BenchReport r;
    r.tool_version = "test";
    r.started_at = "2026-01-01T00:00:00Z";
    r.model.path = "/m.gguf";
    r.model.architecture = "llama";
    r.model.dtype = "f16";
    r.model.weight_bytes = 1 << 20;
    r.model.n_layer = 2;
    r.config.backend = "cpu";
    r.config.vram_budget_gib = 4;
    r.config.ram_budget_gib = 16;
    r.config.repetitions = 2;
    r.probes = synthetic_probes();
    for (const char* kind : {"pp", "tg"}) {
        WorkloadResult w;
        w.kind = kind;
        w.n_tokens = 8;
        w.name = std::string(kind) + "8";
        RunSample s;
        s.tokens = 8;
        s.seconds = 0.5;
        s.tokens_per_second = 16;
        s.forward_passes = 8;
        w.samples = {s, s};
        w.tokens_per_second = summarize({16, 16});
        PassTraffic t;
        t.weight_bytes_touched = 8 << 20;
        t.tokens = 8;
        t.forward_passes = 8;
        w.accounting = compute_accounting(t, 16, r.probes);
        w.gpu_time_ns = 1000;
        w.kernels = kernel_figures({}, {{"matvec_f16", 8, 600}}, 16, w.gpu_time_ns);
        if (w.kind == "tg") w.decode_recording = DecodeRecording{225, 161, 5, 0, 0, 0};
        r.workloads.push_back(w);
    }
    r.peak_rss_bytes = 1 << 30;
    r.speculative.verify = {{0, summarize({2, 3})}, {4, summarize({2.5})}};
    r.speculative.ngram_prompt_tokens = 129;
    r.speculative.ngram = {{"plain", summarize({10}), 1.0, 0, 0, 0, 0}, {"ngram", summarize({20}), 2.5, 40, 30, 0.5, 12}};
    return r;
}

// "a.b[].c" paths of every node (objects and leaves) of j; arrays add "[]" to the key.
void collect_paths(const nlohmann::json& j, const std::string& prefix, std::set<std::string>& all, std::set<std::string>& leaves) {
    if (j.is_object()) {
        if (!prefix.empty()) all.insert(prefix);
        for (auto it = j.begin(); it != j.end(); ++it)
            collect_paths(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), all, leaves);
    } else if (j.is_array()) {
        all.insert(prefix + "[]");
        for (auto& e : j) collect_paths(e, prefix + "[]", all, leaves);
    } else {
        all.insert(prefix);
        leaves.insert(prefix);
    }
}

std::vector<std::string> split_dots(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string part;
    while (std::getline(ss, part, '.')) out.push_back(part);
    return out;
}

// Documented paths may use "*" for any one key.
bool path_matches(const std::string& pattern, const std::string& path) {
    auto p = split_dots(pattern), q = split_dots(path);
    if (p.size() != q.size()) return false;
    for (size_t i = 0; i < p.size(); ++i)
        if (p[i] != "*" && p[i] != q[i]) return false;
    return true;
}

std::vector<std::string> documented_paths() {
    Path doc = Path(VKS_SOURCE_DIR) / "docs" / "benchmark-json.md";
    std::ifstream in(doc);
    EXPECT_TRUE(in) << doc;
    // Table rows "| `path` | ...": the path is [A-Za-z0-9_.[]*]+ between the backticks. Plain
    // string scanning (std::regex trips GCC 12's -Wmaybe-uninitialized in the asan preset).
    std::vector<std::string> out;
    const std::string lead = "| `";
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, lead.size(), lead) != 0) continue;
        const size_t end = line.find('`', lead.size());
        if (end == std::string::npos || end == lead.size() || line.compare(end, 3, "` |") != 0) continue;
        const std::string path = line.substr(lead.size(), end - lead.size());
        if (path.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.[]*") == std::string::npos) out.push_back(path);
    }
    return out;
}

}  // namespace

TEST(BenchJson, EveryDocumentedFieldIsPresent) {
    nlohmann::json j = to_json(synthetic_report());
    std::set<std::string> all, leaves;
    collect_paths(j, "", all, leaves);
    auto docs = documented_paths();
    ASSERT_GT(docs.size(), 40u) << "docs/benchmark-json.md table not found or too short";
    for (const std::string& d : docs) {
        bool found = false;
        for (const std::string& p : all) found = found || path_matches(d, p);
        EXPECT_TRUE(found) << "documented field '" << d << "' is missing from the JSON output";
    }
}

TEST(BenchJson, EveryFieldIsDocumented) {
    nlohmann::json j = to_json(synthetic_report());
    std::set<std::string> all, leaves;
    collect_paths(j, "", all, leaves);
    auto docs = documented_paths();
    for (const std::string& leaf : leaves) {
        bool found = false;
        for (const std::string& d : docs) found = found || path_matches(d, leaf);
        EXPECT_TRUE(found) << "JSON field '" << leaf << "' is not documented in docs/benchmark-json.md";
    }
}

TEST(BenchJson, ValuesAreTheReportsFigures) {
    BenchReport r = synthetic_report();
    nlohmann::json j = to_json(r);
    EXPECT_EQ(j["schema_version"], kReportSchemaVersion);
    EXPECT_EQ(j["workloads"].size(), 2u);
    EXPECT_EQ(j["workloads"][1]["kind"], "tg");
    EXPECT_EQ(j["workloads"][1]["decode_recording"]["dispatches"].get<uint64>(), 225u);
    EXPECT_EQ(j["workloads"][0]["decode_recording"]["barriers"].get<uint64>(), 0u);
    EXPECT_DOUBLE_EQ(j["workloads"][0]["tokens_per_second"]["median"].get<double>(), 16);
    EXPECT_DOUBLE_EQ(j["workloads"][0]["accounting"]["tiers"]["ram"]["bytes_per_token"].get<double>(), double(1 << 20));
    EXPECT_EQ(j["memory"]["ram_budget_bytes"].get<uint64>(), uint64(16) << 30);
    EXPECT_DOUBLE_EQ(j["memory"]["peak_rss_fraction_of_budget"].get<double>(), 1.0 / 16);
    EXPECT_EQ(j["memory"]["rss_before_engine_bytes"].get<uint64>(), 0u);  // unknown: the growth is the peak
    EXPECT_DOUBLE_EQ(j["memory"]["peak_rss_growth_fraction_of_budget"].get<double>(), 1.0 / 16);
    EXPECT_EQ(j["probes"]["host_memory"]["gbps"].get<double>(), 100);
    EXPECT_EQ(j["speculative"]["verify_passes"][1]["rows"].get<uint32>(), 5u);
    EXPECT_DOUBLE_EQ(j["speculative"]["verify_passes"][0]["ms"]["median"].get<double>(), 2.5);
    EXPECT_DOUBLE_EQ(j["speculative"]["ngram"][1]["tokens_per_pass"].get<double>(), 2.5);
    EXPECT_EQ(j["speculative"]["ngram"][1]["accepted"].get<uint64>(), 30u);
}

TEST(BenchJson, ProbeResultsRoundTrip) {
    ProbeResults p = synthetic_probes();
    p.device_to_host = Bandwidth{};
    p.device_to_host.note = "no Vulkan device";
    auto back = probes_from_json(to_json(p));
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(back->device_f16_matmul.tflops, 30);
    EXPECT_TRUE(back->device_f16_matmul.measured);
    EXPECT_EQ(back->device_copy.gbps, 800);
    EXPECT_EQ(back->machine_key, p.machine_key);
    EXPECT_EQ(back->host_memory.gbps, 100);
    EXPECT_EQ(back->host_memory.method, "synthetic");
    EXPECT_FALSE(back->device_to_host.measured);
    EXPECT_EQ(back->device_to_host.note, "no Vulkan device");
}

TEST(BenchJson, DamagedProbeResultsNameTheField) {
    nlohmann::json j = to_json(synthetic_probes());
    j["host_memory"].erase("gbps");
    auto r = probes_from_json(j);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("host_memory"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("gbps"), std::string::npos) << r.error().message;
    j = to_json(synthetic_probes());
    j["disk_read"]["gbps"] = -1.0;
    EXPECT_FALSE(probes_from_json(j));
    j = to_json(synthetic_probes());
    j["device_f16_matmul"].erase("tflops");
    r = probes_from_json(j);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("device_f16_matmul"), std::string::npos) << r.error().message;
    EXPECT_FALSE(probes_from_json(nlohmann::json::array()));
}

TEST(BenchTable, ShowsEveryWorkloadAndCeiling) {
    std::string t = format_table(synthetic_report());
    EXPECT_NE(t.find("pp8"), std::string::npos) << t;
    EXPECT_NE(t.find("tg8"), std::string::npos) << t;
    EXPECT_NE(t.find("100.00 GB/s"), std::string::npos) << t;  // host memory ceiling
    EXPECT_NE(t.find("limited by"), std::string::npos) << t;
    EXPECT_NE(t.find("peak RSS"), std::string::npos) << t;
    EXPECT_NE(t.find("30.00 TFLOPS"), std::string::npos) << t;  // device f16 matmul ceiling
    EXPECT_NE(t.find("non-resident"), std::string::npos) << t;
    EXPECT_NE(t.find("matvec_f16"), std::string::npos) << t;   // kernel table (profiling on)
    EXPECT_NE(t.find("60.0%"), std::string::npos) << t;        // its share of the GPU time
    // The decode recording on the tg workload's GPU busy line only.
    EXPECT_NE(t.find("tg8: GPU busy"), std::string::npos) << t;
    EXPECT_NE(t.find("; 225 dispatches/token, 161 barriers, 5 submissions, 0 waited uploads"), std::string::npos) << t;
    EXPECT_EQ(t.find("dispatches/token"), t.rfind("dispatches/token")) << t;
}

// The RAM budget promises the engines' growth: the report shows the RSS before the first
// engine and the growth over it beside the absolute peak (H100 box, 13B with --ram-gb 16:
// peak 16.06 GiB, above the budget only with the process's driver and code counted).
TEST(BenchTable, PeakRssGrowthOverTheProcessBeforeTheEngine) {
    BenchReport r = synthetic_report();
    r.peak_rss_bytes = uint64(17) << 30;
    r.rss_before_engine_bytes = uint64(2) << 30;
    const nlohmann::json j = to_json(r);
    EXPECT_EQ(j["memory"]["rss_before_engine_bytes"].get<uint64>(), uint64(2) << 30);
    EXPECT_DOUBLE_EQ(j["memory"]["peak_rss_fraction_of_budget"].get<double>(), 17.0 / 16);
    EXPECT_DOUBLE_EQ(j["memory"]["peak_rss_growth_fraction_of_budget"].get<double>(), 15.0 / 16);
    const std::string t = format_table(r);
    EXPECT_NE(t.find("growth over the 2.00 GiB before them: 15.00 GiB, 93.8%"), std::string::npos) << t;
    EXPECT_EQ(t.find("file-backed"), std::string::npos) << t;  // not measured: not shown
    r.rss_file_growth_bytes = uint64(300) << 20;
    EXPECT_NE(format_table(r).find("93.8%, of which 300.00 MiB file-backed"), std::string::npos) << format_table(r);
    EXPECT_EQ(to_json(r)["memory"]["rss_file_growth_bytes"].get<uint64>(), uint64(300) << 20);
    r.rss_before_engine_bytes = uint64(20) << 30;  // more than the peak (a reset peak): growth 0, not a wrap-around
    EXPECT_DOUBLE_EQ(to_json(r)["memory"]["peak_rss_growth_fraction_of_budget"].get<double>(), 0.0);
}

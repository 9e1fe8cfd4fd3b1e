// The --verbose oracle line (src/engine/OracleLine.h): the placement and per-tier traffic
// as numbers a user can check against the machine's peaks.
#include <gtest/gtest.h>

#include "engine/OracleLine.h"

using namespace vk_symbiote;

TEST(OracleLine, HybridRunShowsResidentSetSplitBytesPerTierAndRatesAgainstPeaks) {
    PerformanceMetrics m;
    m.backend = "vulkan";
    m.n_layers = 32;
    m.vram_resident_layers = 6;
    m.streamed_layers = 26;
    m.decode_cpu_layers = 14;
    m.weight_bytes_vram_resident = 2'360'000'000;
    m.total_inferences = 10;
    m.total_inference_time_ns = 1'000'000'000;  // 1 s
    m.weight_bytes_uploaded = 10 * 3'390'000'000ull;
    m.weight_bytes_cpu = 10 * 6'500'000'000ull;
    OraclePeaks p{.disk_gbps = 1.64, .host_to_device_gbps = 51.1, .host_memory_gbps = 88.4, .source = "test"};
    const std::string s = oracle_line(m, p);
    EXPECT_NE(s.find("VRAM-resident 2.20 GiB of weights (6 of 32 layers whole), 26 layers streamed"), std::string::npos) << s;
    EXPECT_NE(s.find("decode split 14 on the CPU from RAM / 12 streamed to the GPU"), std::string::npos) << s;
    EXPECT_NE(s.find("per forward pass: disk 0.0 MB, bus 3.39 GB, CPU from RAM 6.50 GB"), std::string::npos) << s;
    EXPECT_NE(s.find("bus 33.9 GB/s (66% of the 51.1 GB/s peak)"), std::string::npos) << s;
    EXPECT_NE(s.find("CPU 65.0 GB/s (74% of the 88.4 GB/s peak)"), std::string::npos) << s;
    EXPECT_NE(s.find("peaks: test"), std::string::npos) << s;
    EXPECT_EQ(s.find("measured rates"), std::string::npos) << "no telemetry: no measured rates " << s;
    m.telemetry_cpu_weight_gbps = 41.25;
    m.telemetry_gpu_weight_gbps = 1900.5;
    m.telemetry_host_to_device_gbps = 48.0;
    const std::string t = oracle_line(m, p);
    EXPECT_NE(t.find("measured rates: CPU layers 41.25 GB/s, GPU passes 1900.50 GB/s, host->device 48.00 GB/s"), std::string::npos) << t;
    // Rows split: the share of every streamed layer's rows instead of whole layers.
    m.decode_cpu_layers = 0;
    m.decode_cpu_kv_heads = 23;
    m.decode_kv_heads = 32;
    const std::string r = oracle_line(m, p);
    EXPECT_NE(r.find("decode split by rows: in every streamed layer the CPU computes 23 of 32 KV heads' share of the rows from RAM"), std::string::npos) << r;
    EXPECT_EQ(r.find("decode split 0 on the CPU"), std::string::npos) << r;
    EXPECT_EQ(r.find("output head all on the CPU"), std::string::npos) << r;
    m.decode_head_on_cpu = true;
    EXPECT_NE(oracle_line(m, p).find("the GPU the rest streamed (the output head all on the CPU)"), std::string::npos);
}

TEST(OracleLine, CpuPathAndUnknownPeaks) {
    PerformanceMetrics m;
    m.backend = "cpu";
    m.n_layers = 5;
    m.total_inferences = 4;
    m.total_inference_time_ns = 2'000'000'000;
    m.weight_bytes_cpu = 4 * 1'000'000ull;
    m.weight_bytes_disk = 2'000'000'000ull;
    const std::string s = oracle_line(m, {});
    EXPECT_NE(s.find("CPU path, all 5 layers computed from RAM"), std::string::npos) << s;
    EXPECT_NE(s.find("per forward pass: disk 0.50 GB, bus 0.0 MB, CPU from RAM 1.0 MB"), std::string::npos) << s;
    EXPECT_NE(s.find("disk 1.0 GB/s (peak unknown)"), std::string::npos) << s;
    EXPECT_EQ(s.find("decode split"), std::string::npos) << s;
    EXPECT_EQ(s.find("RAM tier"), std::string::npos) << s;  // no packs
}

TEST(OracleLine, PackTierShowsBudgetResidentWindowAndHitRate) {
    PerformanceMetrics m;
    m.backend = "cpu";
    m.n_layers = 40;
    m.total_inferences = 1;
    m.ram_pack_budget_bytes = 14'400'000'000ull;
    m.ram_pack_resident_bytes = 14'100'000'000ull;
    m.ram_lookahead_layers = 2;
    m.ram_prediction_hit_rate = 0.9984;
    const std::string s = oracle_line(m, {});
    EXPECT_NE(s.find("RAM tier: packs 13.13 GiB resident of a 13.41 GiB budget, read-ahead 2 layer(s), predictions 99.8% hit"), std::string::npos) << s;
    m.ram_read_ahead_bytes = 3 * (uint64(32) << 20);
    const std::string c = oracle_line(m, {});
    EXPECT_NE(c.find("read-ahead 2 layer(s) (at most 0.0938 GiB on the way), predictions"), std::string::npos) << c;
}

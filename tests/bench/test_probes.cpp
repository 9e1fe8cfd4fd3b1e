// Probes on small sizes: plausible positive numbers with the method named, the probe cache
// round trip and its error paths. No timed assertions: only "positive and finite" and
// generous sanity ceilings (no RAM reads at 100 TB/s).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "probe/Probes.h"
#include "probe/VulkanProbe.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
using namespace vk_symbiote::probe;

namespace {

Path write_file(const std::string& name, uint64 bytes) {
    Path p = test::tmp_dir() / name;
    std::ofstream out(p, std::ios::binary);
    std::string block(1 << 16, 'x');
    for (uint64 done = 0; done < bytes; done += block.size()) out.write(block.data(), std::streamsize(std::min<uint64>(block.size(), bytes - done)));
    return p;
}

void expect_plausible(const Bandwidth& b) {
    EXPECT_TRUE(b.measured) << b.note;
    EXPECT_TRUE(std::isfinite(b.gbps));
    EXPECT_GT(b.gbps, 0);
    EXPECT_LT(b.gbps, 1e5);  // 100 TB/s: nothing measured here is that fast
    EXPECT_FALSE(b.method.empty());
    EXPECT_GT(b.bytes, 0u);
}

}  // namespace

TEST(BenchProbes, HostMemoryOnASmallBuffer) {
    HostMemoryProbeOptions o;
    o.buffer_bytes = 32 << 20;
    o.threads = 2;
    o.repetitions = 2;
    auto b = probe_host_memory(o);
    ASSERT_TRUE(b) << b.error().to_string();
    expect_plausible(*b);
    EXPECT_NE(b->method.find("2 threads"), std::string::npos) << b->method;
    EXPECT_EQ(b->bytes, uint64(32) << 20);
}

TEST(BenchProbes, HostMemoryRejectsATinyBuffer) {
    HostMemoryProbeOptions o;
    o.buffer_bytes = 16;
    o.threads = 4;
    auto b = probe_host_memory(o);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code, ErrorCode::InvalidArgument);
}

TEST(BenchProbes, DiskReadBuffered) {
    Path f = write_file("disk_probe_buffered.bin", 8 << 20);
    DiskProbeOptions o;
    o.allow_direct = false;
    o.block_bytes = 1 << 20;
    auto b = probe_disk_read(f, o);
    ASSERT_TRUE(b) << b.error().to_string();
    expect_plausible(*b);
    EXPECT_EQ(b->bytes, uint64(8) << 20);
    EXPECT_NE(b->method.find("buffered"), std::string::npos) << b->method;
}

TEST(BenchProbes, DiskReadDirectOrFallbackReadsTheWholeSmallFile) {
    // Not a multiple of 4096: the O_DIRECT tail read is short and must still count.
    Path f = write_file("disk_probe_direct.bin", (3 << 20) + 1000);
    DiskProbeOptions o;
    o.block_bytes = 1 << 20;
    auto b = probe_disk_read(f, o);
    ASSERT_TRUE(b) << b.error().to_string();
    expect_plausible(*b);
    EXPECT_EQ(b->bytes, (uint64(3) << 20) + 1000);
    EXPECT_TRUE(b->method.find("O_DIRECT") != std::string::npos || b->method.find("buffered") != std::string::npos) << b->method;
}

TEST(BenchProbes, DiskReadWithSeveralBlocksInFlightReadsEveryByteOnce) {
    const uint64 size = (uint64(5) << 20) + 12345;  // 6 blocks, the last one short
    Path f = write_file("disk_probe_in_flight.bin", size);
    for (uint32 in_flight : {1u, 3u, 4u, 8u}) {
        DiskProbeOptions o;
        o.block_bytes = 1 << 20;
        o.in_flight = in_flight;
        o.allow_direct = in_flight % 2 == 0;  // both the O_DIRECT (or its fallback) and the buffered read
        auto b = probe_disk_read(f, o);
        ASSERT_TRUE(b) << b.error().to_string();
        EXPECT_EQ(b->bytes, size) << in_flight << " in flight";
        EXPECT_NE(b->method.find(std::to_string(in_flight) + " in flight"), std::string::npos) << b->method;
    }
}

TEST(BenchProbes, DiskReadLimitAndErrors) {
    Path f = write_file("disk_probe_limit.bin", 4 << 20);
    DiskProbeOptions o;
    o.max_bytes = 1 << 20;
    o.block_bytes = 1 << 20;
    o.allow_direct = false;
    auto b = probe_disk_read(f, o);
    ASSERT_TRUE(b) << b.error().to_string();
    EXPECT_EQ(b->bytes, uint64(1) << 20);

    auto missing = probe_disk_read(test::tmp_dir() / "does_not_exist.bin");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("does_not_exist.bin"), std::string::npos);

    Path empty = write_file("disk_probe_empty.bin", 0);
    auto e = probe_disk_read(empty);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code, ErrorCode::InvalidArgument);

    o.block_bytes = 1000;  // not 4096-aligned
    auto bad = probe_disk_read(f, o);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::InvalidArgument);
}

TEST(BenchProbes, MachineIdentity) {
    EXPECT_FALSE(host_name().empty());
    EXPECT_FALSE(cpu_model_name().empty());
    std::string k = machine_key("h", "c", "");
    EXPECT_NE(k.find("h"), std::string::npos);
    EXPECT_NE(k, machine_key("h", "c", "gpu"));
    std::string t = utc_now_iso8601();
    EXPECT_EQ(t.size(), 20u) << t;
    EXPECT_EQ(t.back(), 'Z');
    EXPECT_GT(peak_rss_bytes(), 0u);
}

TEST(BenchProbes, CacheStoresPerMachineAndReloads) {
    Path file = test::tmp_dir() / "probe_cache" / "probes.json";
    ProbeCache cache(file);
    auto none = cache.load("a");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, ErrorCode::NotFound);

    ProbeResults a;
    a.machine_key = "a";
    a.hostname = "ha";
    a.host_memory.gbps = 12.5;
    a.host_memory.measured = true;
    a.host_memory.method = "m";
    ProbeResults b = a;
    b.machine_key = "b";
    b.host_memory.gbps = 99;
    ASSERT_TRUE(cache.store(a));
    ASSERT_TRUE(cache.store(b));
    auto la = cache.load("a");
    ASSERT_TRUE(la) << la.error().to_string();
    EXPECT_TRUE(la->from_cache);
    EXPECT_EQ(la->host_memory.gbps, 12.5);
    auto lb = cache.load("b");
    ASSERT_TRUE(lb) << lb.error().to_string();
    EXPECT_EQ(lb->host_memory.gbps, 99);

    // Replacing one entry keeps the other.
    a.host_memory.gbps = 13;
    ASSERT_TRUE(cache.store(a));
    EXPECT_EQ(cache.load("a")->host_memory.gbps, 13);
    EXPECT_EQ(cache.load("b")->host_memory.gbps, 99);
}

TEST(BenchProbes, DamagedCacheIsAnErrorThenReplaced) {
    Path file = test::tmp_dir() / "probe_cache_bad" / "probes.json";
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << "{ not json";
    ProbeCache cache(file);
    auto r = cache.load("x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::Format);
    EXPECT_NE(r.error().message.find("probes.json"), std::string::npos);
    ProbeResults p;
    p.machine_key = "x";
    ASSERT_TRUE(cache.store(p));
    EXPECT_TRUE(cache.load("x"));
}

TEST(BenchProbes, DefaultCacheDirEndsInVkSymbiote) {
    EXPECT_EQ(default_cache_dir().filename(), "vk_symbiote");
}

TEST(BenchProbes, VulkanCopiesOnSmallBuffers) {
    VulkanProbeOptions o;
    o.buffer_bytes = 8 << 20;
    o.repetitions = 2;
    o.compute_probes = false;
    auto r = probe_vulkan(o);
    if (!r && r.error().code == ErrorCode::Device) GTEST_SKIP() << r.error().to_string();
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_FALSE(r->device_name.empty());
    expect_plausible(r->host_to_device);
    expect_plausible(r->device_to_host);
    expect_plausible(r->device_copy);
    EXPECT_EQ(r->device_copy.bytes, 2 * r->host_to_device.bytes);  // read + write counted
    EXPECT_FALSE(r->device_memory.measured);
    EXPECT_EQ(r->device_memory.note, "compute probes skipped");
    auto name = vulkan_device_name(o);
    ASSERT_TRUE(name) << name.error().to_string();
    EXPECT_EQ(*name, r->device_name);
}

TEST(BenchProbes, VulkanBadDeviceIndexIsAnError) {
    VulkanProbeOptions o;
    o.device_index = 1000;
    auto r = probe_vulkan(o);
    ASSERT_FALSE(r);
    if (r.error().code == ErrorCode::Device) return;  // no Vulkan here at all
    EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(r.error().message.find("1000"), std::string::npos);
}

// The compute probes on small sizes: the read probe reads exactly the buffer it was given,
// and the matmul probe passes its exact validation product before it reports a rate.
TEST(BenchProbes, VulkanComputeReadAndMatmul) {
    VulkanProbeOptions o;
    o.buffer_bytes = 4 << 20;
    o.repetitions = 2;
    o.read_bytes = 16 << 20;
    o.matmul_min_n = 256;
    o.matmul_max_n = 256;
    auto r = probe_vulkan(o);
    if (!r && r.error().code == ErrorCode::Device) GTEST_SKIP() << r.error().to_string();
    ASSERT_TRUE(r) << r.error().to_string();
    expect_plausible(r->device_memory);
    EXPECT_EQ(r->device_memory.bytes, uint64(16) << 20);
    EXPECT_NE(r->device_memory.method.find("compute shader read"), std::string::npos) << r->device_memory.method;
    const Throughput& mm = r->device_f16_matmul;
    ASSERT_TRUE(mm.measured) << mm.note;
    EXPECT_EQ(mm.flops, uint64(2) * 256 * 256 * 256);
    EXPECT_GT(mm.tflops, 0);
    EXPECT_LT(mm.tflops, 1e4);  // 10 PFLOPS: not a shader-core figure of any device
    EXPECT_NE(mm.method.find("256^3"), std::string::npos) << mm.method;

    // The f32-arithmetic variant (devices without shaderFloat16) passes the same exact check.
    o.matmul_fp16_math = false;
    o.compute_probes = true;
    r = probe_vulkan(o);
    ASSERT_TRUE(r) << r.error().to_string();
    ASSERT_TRUE(r->device_f16_matmul.measured) << r->device_f16_matmul.note;
    EXPECT_NE(r->device_f16_matmul.method.find("f32 fma"), std::string::npos) << r->device_f16_matmul.method;
}

TEST(BenchProbes, CacheOfAnOlderSchemaIsProbedAgain) {
    Path f = test::tmp_dir() / "probes_old_schema.json";
    {
        std::ofstream out(f);
        out << R"({"schema_version": 1, "machines": {"x": {}}})";
    }
    ProbeCache cache(f);
    auto r = cache.load("x");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::NotFound);
    EXPECT_NE(r.error().message.find("schema_version 1"), std::string::npos) << r.error().message;
    ProbeResults p;
    p.machine_key = "y";
    ASSERT_TRUE(cache.store(p));
    EXPECT_TRUE(cache.load("y"));
    EXPECT_FALSE(cache.load("x"));  // the old layout's entries are dropped
}

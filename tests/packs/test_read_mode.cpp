// Compressed pack reads with the decode stage beside the I/O threads, and the read mode
// (packs/ReadModePolicy.h):
//  - the policy on synthetic rates: undecided before kMinPacks, raw once the decode capacity
//    is below the disk's rate, compressed otherwise, the forced modes;
//  - the manager with telemetry injected (PackManagerOptions::telemetry_override): a slow
//    decode switches every later load to raw reads of the model file, reported once; a fast
//    one never does; the packs are the model's bytes either way;
//  - pipelined decodes (several decode threads) give byte-identical packs, and the decode
//    stage's scratch buffers are counted in the RAM budget and never exceed it.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>

#include "PackTestUtil.h"
#include "packs/AsyncPrefetcher.h"
#include "packs/NomadPackManager.h"
#include "packs/PackCache.h"
#include "packs/PackCacheSource.h"
#include "packs/ReadModePolicy.h"

using namespace vk_symbiote;
using namespace vk_symbiote::packtest;
namespace fs = std::filesystem;

namespace {

constexpr uint64 kPack = 4096;

// Disk 2 GB/s (2e9 stored bytes over 1 s in flight); decode: `per_thread_gbps` per thread.
PackReadTelemetry rates(double per_thread_gbps, uint32 threads, uint64 packs = 100) {
    PackReadTelemetry t;
    t.stored_bytes_read = 2'000'000'000;
    t.io_active_seconds = 1.0;
    t.raw_bytes_decoded = 3'000'000'000;
    t.decode_busy_seconds = 3.0 / per_thread_gbps;
    t.decode_threads = threads;
    t.packs_decoded = packs;
    return t;
}

Path bf16_model() { return test::models_dir() / "syn-bf16.gguf"; }

// A pack cache of `model` (exponent codec: every bf16 pack shrinks) in its own directory.
std::shared_ptr<const PackCacheReader> open_cache(const OpenModel& m, const PackPlan& plan, const std::string& dir) {
    PackCacheOptions o;
    o.cache_dir = test::tmp_dir() / dir;
    o.candidates = {"exponent"};
    o.threads = 2;
    fs::create_directories(o.cache_dir);
    auto path = build_pack_cache(*m.file, plan, o);
    EXPECT_TRUE(path) << path.error().to_string();
    if (!path) return nullptr;
    auto r = PackCacheReader::open(*path, *m.file, plan);
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? std::shared_ptr<const PackCacheReader>(std::move(*r)) : nullptr;
}

// Options reading in `mode`; per_thread_gbps > 0: the decode rate the read mode sees is
// injected (rates(): per thread against a 2 GB/s disk), else it is measured.
PackManagerOptions read_mode(CompressedReads mode, double per_thread_gbps = 0) {
    PackManagerOptions mo;
    mo.compressed_reads = mode;
    if (per_thread_gbps > 0) {
        mo.telemetry_override = [per_thread_gbps](const PackReadTelemetry& t) { return rates(per_thread_gbps, t.decode_threads, t.packs_decoded); };
    }
    return mo;
}

struct Rig {
    OpenModel m;
    std::shared_ptr<NomadPackManager> mgr;
    std::vector<std::string> switches;  // on_read_mode_switch messages
    std::mutex mu;
};

// A manager reading from the pack cache with `decode_threads`, its budget the minimum (the
// largest pinned set + the I/O buffers) + `spare_packs` packs.
void make(Rig& s, const std::string& dir, uint32 decode_threads, PackManagerOptions mo = {}, uint64 spare_packs = 2) {
    s.m = open_model(bf16_model());
    auto plan = plan_packs(s.m.reg, {kPack});
    ASSERT_TRUE(plan);
    mo.io.threads = 2;
    mo.io.decode_threads = decode_threads;
    mo.io.pack_cache = open_cache(s.m, *plan, dir);
    ASSERT_TRUE(mo.io.pack_cache);
    mo.ram_budget_bytes = NomadPackManager::minimum_budget_bytes(*plan, 0, AsyncPrefetcher::staging_bytes_for(mo.io)) + spare_packs * kPack;
    mo.pin_wait_ms = 2000;
    mo.on_read_mode_switch = [&s](const std::string& why) {
        std::lock_guard<std::mutex> lk(s.mu);
        s.switches.push_back(why);
    };
    auto mgr = NomadPackManager::create(s.m.file, std::move(*plan), std::move(mo));
    ASSERT_TRUE(mgr) << mgr.error().to_string();
    s.mgr = *mgr;
}

// Demands every pack in order with the window read ahead; checks each against the model.
void scan_all(Rig& s) {
    for (uint64 id = 0; id < s.mgr->pack_count(); ++id) {
        s.mgr->prefetch_ahead({id});
        auto p = s.mgr->get_or_load_pack(id);
        ASSERT_TRUE(p) << p.error().to_string();
        ASSERT_TRUE(pack_matches(*s.m.file, (*p)->metadata(), (*p)->data())) << "pack " << id;
    }
    wait_for_reads(*s.mgr);
}

}  // namespace

TEST(ReadModePolicy, UndecidedUntilEnoughPacks) {
    const ReadModeVerdict v = ReadModePolicy::judge(rates(0.1, 1, ReadModePolicy::kMinPacks - 1), 0.66, CompressedReads::Auto);
    EXPECT_FALSE(v.decided);
    EXPECT_FALSE(v.read_raw);
    EXPECT_FALSE(ReadModePolicy::judge(PackReadTelemetry{}, 0.66, CompressedReads::Auto).decided);
}

TEST(ReadModePolicy, SlowDecodeReadsRaw) {
    // 2 threads x 0.5 GB/s = 1 GB/s of raw bytes < the disk's 2 GB/s raw.
    const ReadModeVerdict v = ReadModePolicy::judge(rates(0.5, 2), 0.66, CompressedReads::Auto);
    EXPECT_TRUE(v.decided);
    EXPECT_TRUE(v.read_raw);
    EXPECT_NEAR(v.disk_bps, 2e9, 1);
    EXPECT_NEAR(v.decode_bps, 1e9, 1);
    EXPECT_NEAR(v.compressed_bps, 1e9, 1);
    EXPECT_NEAR(v.raw_bps, 2e9, 1);
    EXPECT_NE(v.reason.find("1.00 GB/s"), std::string::npos) << v.reason;
}

TEST(ReadModePolicy, FastDecodeKeepsTheCache) {
    // 8 x 0.5 = 4 GB/s decode; the disk gives 2 / 0.66 = 3.03 GB/s of raw bytes: disk-bound, 1.5x raw.
    const ReadModeVerdict v = ReadModePolicy::judge(rates(0.5, 8), 0.66, CompressedReads::Auto);
    EXPECT_TRUE(v.decided);
    EXPECT_FALSE(v.read_raw);
    EXPECT_NEAR(v.compressed_bps, 2e9 / 0.66, 1e3);
    // The same disk, the decode exactly at its rate: not slower, kept.
    EXPECT_FALSE(ReadModePolicy::judge(rates(1.0, 2), 0.66, CompressedReads::Auto).read_raw);
    // Slower than the disk by a little: raw.
    EXPECT_TRUE(ReadModePolicy::judge(rates(0.99, 2), 0.66, CompressedReads::Auto).read_raw);
}

TEST(ReadModePolicy, ForcedModesIgnoreTheRates) {
    EXPECT_FALSE(ReadModePolicy::judge(rates(0.01, 1), 0.66, CompressedReads::Always).read_raw);
    EXPECT_TRUE(ReadModePolicy::judge(rates(0.01, 1), 0.66, CompressedReads::Always).decided);
    EXPECT_TRUE(ReadModePolicy::judge(rates(100, 16), 0.66, CompressedReads::Never).read_raw);
    EXPECT_TRUE(ReadModePolicy::judge(PackReadTelemetry{}, 0.66, CompressedReads::Never).read_raw);
}

TEST(ReadModePolicy, ParsesTheOption) {
    EXPECT_EQ(*parse_compressed_reads("auto"), CompressedReads::Auto);
    EXPECT_EQ(*parse_compressed_reads("always"), CompressedReads::Always);
    EXPECT_EQ(*parse_compressed_reads("never"), CompressedReads::Never);
    auto bad = parse_compressed_reads("sometimes");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("auto, always, never"), std::string::npos);
}

TEST(CompressedReads, SlowDecodeSwitchesToRawReadsOnce) {
    Rig s;
    make(s, "read_mode_slow", 2, read_mode(CompressedReads::Auto, 0.1));  // 0.1 GB/s per thread vs a 2 GB/s disk
    ASSERT_TRUE(s.mgr);
    ASSERT_GT(s.mgr->pack_count(), ReadModePolicy::kMinPacks + 4);
    scan_all(s);
    EXPECT_TRUE(s.mgr->reads_raw());
    ASSERT_EQ(s.switches.size(), 1u);
    EXPECT_NE(s.switches[0].find("read raw from the model file"), std::string::npos) << s.switches[0];
    // Decoded packs stop at the switch (kMinPacks, plus those already read when it came).
    const IoStats io = s.mgr->io_stats();
    EXPECT_GE(io.packs_decoded, ReadModePolicy::kMinPacks);
    EXPECT_LT(io.packs_decoded, s.mgr->pack_count());
    const PackTierStats st = s.mgr->get_ram_stats();
    EXPECT_TRUE(st.reads_raw);
    EXPECT_EQ(st.cache_bytes_loaded, io.cache_bytes_read);
    EXPECT_EQ(st.bytes_decompressed, io.bytes_decoded);
    EXPECT_GT(st.bytes_loaded, st.cache_bytes_loaded);  // the rest came raw from the model
    // A second pass (packs evicted and read again) reads raw only.
    const uint64 decoded = io.packs_decoded;
    scan_all(s);
    EXPECT_EQ(s.mgr->io_stats().packs_decoded, decoded);
    EXPECT_EQ(s.switches.size(), 1u);
}

TEST(CompressedReads, FastDecodeKeepsReadingTheCache) {
    Rig s;
    make(s, "read_mode_fast", 2, read_mode(CompressedReads::Auto, 4.0));
    ASSERT_TRUE(s.mgr);
    scan_all(s);
    EXPECT_FALSE(s.mgr->reads_raw());
    EXPECT_TRUE(s.switches.empty());
    const IoStats io = s.mgr->io_stats();
    EXPECT_EQ(io.packs_decoded, s.mgr->get_ram_stats().loads);
    EXPECT_EQ(io.cache_bytes_read, io.bytes_read);
    EXPECT_GT(io.decode_seconds, 0.0);
    EXPECT_GT(io.active_seconds, 0.0);
    EXPECT_EQ(io.decode_threads, 2u);
}

TEST(CompressedReads, NeverReadsRawFromTheStart) {
    Rig s;
    make(s, "read_mode_never", 1, read_mode(CompressedReads::Never));
    ASSERT_TRUE(s.mgr);
    EXPECT_TRUE(s.mgr->reads_raw());
    scan_all(s);
    EXPECT_EQ(s.mgr->io_stats().packs_decoded, 0u);
    EXPECT_EQ(s.mgr->io_stats().cache_bytes_read, 0u);
    EXPECT_TRUE(s.switches.empty());  // forced: nothing switched during the run
}

TEST(CompressedReads, AlwaysNeverSwitches) {
    Rig s;
    make(s, "read_mode_always", 1, read_mode(CompressedReads::Always, 0.01));
    ASSERT_TRUE(s.mgr);
    scan_all(s);
    EXPECT_FALSE(s.mgr->reads_raw());
    EXPECT_EQ(s.mgr->io_stats().packs_decoded, s.mgr->get_ram_stats().loads);
}

// Several decode threads, reads ahead of them, the budget at its minimum + 1 pack: every pack
// is the model's bytes, and resident packs + the I/O buffers stay within the budget.
TEST(CompressedReads, PipelinedDecodeKeepsBytesAndBudget) {
    Rig s;
    make(s, "read_mode_pipelined", 4, read_mode(CompressedReads::Always), 1);
    ASSERT_TRUE(s.mgr);
    scan_all(s);
    scan_all(s);
    const PackTierStats st = s.mgr->get_ram_stats();
    EXPECT_EQ(s.mgr->io_stats().packs_decoded, st.loads);
    EXPECT_LE(st.peak_bytes, s.mgr->pack_budget_bytes());
    EXPECT_EQ(st.decode_threads, 4u);
}

TEST(CompressedReads, DecodeThreadsScratchCountsInTheBudget) {
    OpenModel m = open_model(bf16_model());
    auto plan = plan_packs(m.reg, {kPack});
    ASSERT_TRUE(plan);
    PrefetcherOptions io;
    io.threads = 2;
    io.pack_cache = open_cache(m, *plan, "read_mode_budget");
    ASSERT_TRUE(io.pack_cache);
    io.decode_threads = 1;
    const uint64 one = AsyncPrefetcher::staging_bytes_for(io);
    io.decode_threads = 5;
    const uint64 five = AsyncPrefetcher::staging_bytes_for(io);
    // (I/O threads + decode threads) scratch buffers of the largest stored pack, aligned.
    EXPECT_EQ(five - one, 4 * (AsyncPrefetcher::cache_scratch_bytes(*io.pack_cache) + 4096));
    EXPECT_EQ(one, 3 * (AsyncPrefetcher::cache_scratch_bytes(*io.pack_cache) + 4096));
    // A manager whose budget misses one decode thread's scratch is refused with the minimum.
    PackManagerOptions mo;
    mo.io = io;
    mo.ram_budget_bytes = NomadPackManager::minimum_budget_bytes(*plan, 0, five) - 1;
    auto mgr = NomadPackManager::create(m.file, *plan, mo);
    ASSERT_FALSE(mgr);
    EXPECT_EQ(mgr.error().code, ErrorCode::BudgetTooSmall);
    io.decode_threads = 0;
    mo.io = io;
    mo.ram_budget_bytes = uint64(1) << 30;
    auto zero = NomadPackManager::create(m.file, *plan, mo);
    ASSERT_FALSE(zero);
    EXPECT_NE(zero.error().message.find("decode_threads"), std::string::npos);
}

// Shutdown with cache reads queued, reading and decoding: every job completes (decoded and
// right, or an error), none hangs, and the I/O and decode counters add up.
TEST(CompressedReads, ShutdownCompletesEveryQueuedJob) {
    OpenModel m = open_model(bf16_model());
    auto plan = plan_packs(m.reg, {kPack});
    ASSERT_TRUE(plan);
    PrefetcherOptions io;
    io.threads = 2;
    io.decode_threads = 2;
    io.pack_cache = open_cache(m, *plan, "read_mode_shutdown");
    ASSERT_TRUE(io.pack_cache);
    auto pf = AsyncPrefetcher::create(m.file, io);
    ASSERT_TRUE(pf) << pf.error().to_string();
    std::vector<std::vector<uint8>> bufs(plan->packs.size());
    std::vector<std::shared_future<ExpectedVoid>> done;
    std::atomic<uint64> callbacks{0};
    for (const PackMetadata& p : plan->packs) {
        bufs[p.pack_id].assign(p.byte_size, 0);
        ReadJob job;
        job.cached = CachedPackRead{p.pack_id, bufs[p.pack_id].data(), p.byte_size};
        job.what = "pack " + std::to_string(p.pack_id);
        job.on_done = [&callbacks](const ExpectedVoid&) { callbacks++; };
        done.push_back((*pf)->submit(std::move(job)));
    }
    (*pf)->shutdown();
    uint64 ok = 0;
    for (size_t i = 0; i < done.size(); ++i) {
        ASSERT_EQ(done[i].wait_for(std::chrono::seconds(10)), std::future_status::ready) << "job " << i;
        if (!done[i].get()) continue;
        ok++;
        EXPECT_TRUE(pack_matches(*m.file, plan->packs[i], bufs[i].data())) << "pack " << i;
    }
    EXPECT_EQ(callbacks.load(), done.size());
    const IoStats st = (*pf)->stats();
    EXPECT_EQ(st.jobs, done.size());
    EXPECT_EQ(st.failures, done.size() - ok);
    EXPECT_EQ(st.packs_decoded, ok);
}

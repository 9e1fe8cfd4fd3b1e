// Pack cache file: every pack of every model round-trips bit-exactly; corruption,
// truncation, a cache of another model or of a modified model are refused; an
// interrupted conversion leaves no file behind.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "packs/PackCache.h"
#include "packs/PackCacheSetup.h"
#include "packs/PackCacheSource.h"
#include "gguf/GGUFLoader.h"
#include "packs/PackPlanner.h"
#include "packs/PackWeightProvider.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "support/RunCommand.h"
#include "support/TestPaths.h"

using namespace vk_symbiote;
namespace fs = std::filesystem;

namespace {

constexpr uint64 kSmallPack = 16 << 10;  // many packs even for the 1 MB models

struct Opened {
    std::unique_ptr<GGUFLoader> file;
    PackPlan plan;
};

// A writable copy of a shared model in its own directory (../shared is read-only).
Path copy_model(const std::string& name, const std::string& dir_name) {
    Path dir = test::tmp_dir() / dir_name;
    fs::create_directories(dir);
    Path dst = dir / name;
    fs::copy_file(test::models_dir() / name, dst, fs::copy_options::overwrite_existing);
    fs::permissions(dst, fs::perms::owner_read | fs::perms::owner_write);
    return dst;
}

Opened open_model(const Path& p, uint64 max_pack = kSmallPack) {
    Opened o;
    auto g = GGUFLoader::open(p);
    EXPECT_TRUE(g) << g.error().to_string();
    if (!g) return o;
    o.file = std::move(*g);
    auto cfg = ModelConfig::from_source(*o.file);
    EXPECT_TRUE(cfg) << cfg.error().to_string();
    if (!cfg) return o;
    auto reg = TensorRegistry::bind(*cfg, *o.file);
    EXPECT_TRUE(reg) << reg.error().to_string();
    if (!reg) return o;
    auto plan = plan_packs(*reg, {max_pack});
    EXPECT_TRUE(plan) << plan.error().to_string();
    if (plan) o.plan = std::move(*plan);
    return o;
}

// Reads pack `p` back from the cache and compares every slice with the model file.
::testing::AssertionResult pack_equals_model(const PackCacheReader& r, const ModelSource& f, const PackMetadata& p) {
    std::vector<uint8> got(p.byte_size);
    if (auto rr = r.read_pack(p.pack_id, got); !rr) return ::testing::AssertionFailure() << rr.error().to_string();
    for (const PackSlice& s : p.slices) {
        std::vector<uint8> want(s.byte_size);
        if (auto rr = f.read_range(s.file_offset, s.byte_size, want.data()); !rr) return ::testing::AssertionFailure() << rr.error().to_string();
        if (std::memcmp(want.data(), got.data() + s.pack_offset, s.byte_size) != 0)
            return ::testing::AssertionFailure() << "pack " << p.pack_id << " slice " << s.tensor_name << " differs";
    }
    return ::testing::AssertionSuccess();
}

// Reads every pack of m's plan back through `r`: each read that works gives the model's bytes,
// each that fails is a Corrupt error naming the cache file and the pack. Returns how many failed.
int corrupt_packs(const PackCacheReader& r, const Opened& m, const Path& cache) {
    int corrupt = 0;
    for (const PackMetadata& p : m.plan.packs) {
        std::vector<uint8> buf(p.byte_size);
        auto rr = r.read_pack(p.pack_id, buf);
        if (rr) {
            EXPECT_TRUE(pack_equals_model(r, *m.file, p));
            continue;
        }
        ++corrupt;
        EXPECT_EQ(rr.error().code, ErrorCode::Corrupt) << rr.error().to_string();
        EXPECT_NE(rr.error().message.find(cache.string()), std::string::npos) << rr.error().message;
        EXPECT_NE(rr.error().message.find("pack " + std::to_string(p.pack_id)), std::string::npos) << rr.error().message;
    }
    return corrupt;
}

std::vector<std::string> dir_entries(const Path& dir) {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir)) v.push_back(e.path().filename().string());
    return v;
}

void flip_byte(const Path& p, uint64 off) {
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(std::streamoff(off));
    char c = 0;
    f.get(c);
    f.seekp(std::streamoff(off));
    f.put(char(c ^ 0x5A));
}

Path build(const Opened& m, PackCacheOptions opts = {}) {
    auto c = build_pack_cache(*m.file, m.plan, opts);
    EXPECT_TRUE(c) << c.error().to_string();
    return c ? *c : Path();
}

TEST(PackCache, EveryPackOfEveryModelRoundTrips) {
    for (const std::string name : {"stories260K.gguf", "syn-f32.gguf", "syn-f16.gguf", "syn-bf16.gguf", "syn-spm-f16.gguf"}) {
        SCOPED_TRACE(name);
        Path model = copy_model(name, "roundtrip");
        Opened m = open_model(model);
        ASSERT_FALSE(m.plan.packs.empty());
        uint64 calls = 0, last_done = 0, last_bytes = 0;
        PackCacheOptions opts;
        opts.threads = 2;
        auto cache = build_pack_cache(*m.file, m.plan, opts, [&](uint64 done, uint64 total, uint64 bytes) -> ExpectedVoid {
            ++calls;
            EXPECT_EQ(total, m.plan.packs.size());
            EXPECT_GT(done, last_done);
            EXPECT_GT(bytes, last_bytes);
            last_done = done;
            last_bytes = bytes;
            return {};
        });
        ASSERT_TRUE(cache) << cache.error().to_string();
        EXPECT_EQ(*cache, pack_cache_path(model, {}));
        EXPECT_EQ(calls, m.plan.packs.size());
        EXPECT_EQ(last_bytes, m.plan.total_bytes);
        auto r = PackCacheReader::open(*cache, *m.file, m.plan);
        ASSERT_TRUE(r) << r.error().to_string();
        std::map<std::string, uint64> per_codec;
        for (const PackMetadata& p : m.plan.packs) {
            ASSERT_TRUE(pack_equals_model(**r, *m.file, p));
            EXPECT_LE((*r)->stored_bytes(p.pack_id), p.byte_size);
            per_codec[(*r)->codec_name(p.pack_id)]++;
        }
        EXPECT_LE((*r)->ratio(), 1.0);
        std::string codecs;
        for (const auto& [c, n] : per_codec) codecs += " " + c + ":" + std::to_string(n);
        std::printf("[pack cache] %-18s %4zu packs of <= %llu B, stored/raw %.3f,%s\n", name.c_str(), m.plan.packs.size(),
                    (unsigned long long)kSmallPack, (*r)->ratio(), codecs.c_str());
    }
}

TEST(PackCache, HalfPrecisionWeightsShrinkAndRawPacksRoundTrip) {
    Opened m = open_model(copy_model("syn-bf16.gguf", "shrink"));
    Path cache = build(m);
    auto r = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_LT((*r)->ratio(), 0.95);  // bf16 exponents are highly redundant

    // A saving nobody reaches: everything is stored raw and still verified on read.
    PackCacheOptions opts;
    opts.min_saving = 0.99;
    cache = build(m, opts);
    r = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_DOUBLE_EQ((*r)->ratio(), 1.0);
    for (const PackMetadata& p : m.plan.packs) {
        EXPECT_EQ((*r)->codec_name(p.pack_id), kRawCodecName);
        ASSERT_TRUE(pack_equals_model(**r, *m.file, p));
    }
}

TEST(PackCache, PacksLieInUseOrderAndOutputIsDeterministic) {
    Opened m = open_model(copy_model("syn-spm-f16.gguf", "order"));
    PackCacheOptions opts;
    opts.threads = 3;
    Path cache = build(m, opts);
    std::string first = test::read_file(cache);
    auto r = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_TRUE(r) << r.error().to_string();
    for (uint64 id = 1; id < m.plan.packs.size(); ++id)
        EXPECT_EQ((*r)->stored_offset(id), (*r)->stored_offset(id - 1) + (*r)->stored_bytes(id - 1)) << "pack " << id;
    EXPECT_EQ((*r)->stored_offset(m.plan.packs.size() - 1) + (*r)->stored_bytes(m.plan.packs.size() - 1), fs::file_size(cache));
    opts.threads = 1;
    build(m, opts);
    EXPECT_TRUE(first == test::read_file(cache)) << "a rebuild with another thread count differs";
}

TEST(PackCache, ConcurrentReadsAreCorrect) {
    Opened m = open_model(copy_model("syn-f16.gguf", "concurrent"));
    auto r = PackCacheReader::open(build(m), *m.file, m.plan);
    ASSERT_TRUE(r) << r.error().to_string();
    std::atomic<int> bad{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t)
        ts.emplace_back([&, t] {
            for (size_t i = 0; i < m.plan.packs.size(); ++i) {
                const PackMetadata& p = m.plan.packs[(i + size_t(t) * 7) % m.plan.packs.size()];
                if (!pack_equals_model(**r, *m.file, p)) ++bad;
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(bad.load(), 0);
}

TEST(PackCache, FlippedByteIsReportedAsCorrupt) {
    Opened m = open_model(copy_model("stories260K.gguf", "flip"));
    Path cache = build(m);
    // The stored packs follow the header back to back, in id order: flipping
    // the file's last byte damages exactly one pack.
    uint64 size = fs::file_size(cache);
    flip_byte(cache, size - 1);
    auto r = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_TRUE(r) << r.error().to_string();  // the header is intact
    EXPECT_EQ(corrupt_packs(**r, m, cache), 1);

    // A flipped byte in the header / table is caught at open.
    flip_byte(cache, size - 1);  // undo
    flip_byte(cache, 106);  // a codec name (the identity block before it is not checksummed)
    auto bad = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::Corrupt);
    EXPECT_NE(bad.error().message.find("checksum"), std::string::npos) << bad.error().message;
}

TEST(PackCache, EveryStoredByteIsCovered) {
    // Flip each of a spread of bytes in the data area: every flip makes exactly the pack
    // holding it fail (raw packs by their hash, compressed ones by the frame checksum).
    Opened m = open_model(copy_model("syn-f16.gguf", "cover"));
    Path cache = build(m);
    uint64 size = fs::file_size(cache);
    auto r = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_TRUE(r) << r.error().to_string();
    uint64 stored = 0;
    for (const PackMetadata& p : m.plan.packs) stored += (*r)->stored_bytes(p.pack_id);
    const uint64 data_start = size - stored;
    for (uint64 off = data_start; off < size; off += stored / 13 + 1) {
        flip_byte(cache, off);
        EXPECT_EQ(corrupt_packs(**r, m, cache), 1) << "byte " << off;
        flip_byte(cache, off);
    }
}

TEST(PackCache, TruncatedCacheIsCorrupt) {
    Opened m = open_model(copy_model("syn-f32.gguf", "trunc"));
    Path cache = build(m);
    uint64 size = fs::file_size(cache);
    // Open first, truncate underneath: reads of the lost tail report Corrupt.
    auto r = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_TRUE(r) << r.error().to_string();
    fs::resize_file(cache, size - 100);
    EXPECT_GE(corrupt_packs(**r, m, cache), 1);
    // Opened after truncation: refused at open, at every length.
    for (uint64 len : {size - 100, size / 2, uint64(100), uint64(0)}) {
        fs::resize_file(cache, len);
        auto t = PackCacheReader::open(cache, *m.file, m.plan);
        ASSERT_FALSE(t) << "length " << len;
        EXPECT_EQ(t.error().code, ErrorCode::Corrupt) << t.error().to_string();
    }
}

TEST(PackCache, CacheOfAnotherModelOrPlanIsRefused) {
    Opened a = open_model(copy_model("syn-f16.gguf", "other"));
    Opened b = open_model(copy_model("syn-bf16.gguf", "other"));  // same shapes, same size
    // Same size and mtime too: only the GGUF header hash tells the two apart.
    ASSERT_EQ(a.file->file_size(), b.file->file_size());
    fs::last_write_time(b.file->path(), fs::last_write_time(a.file->path()));
    Path cache_b = build(b);
    auto r = PackCacheReader::open(cache_b, *a.file, a.plan);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::Corrupt);
    EXPECT_NE(r.error().message.find("does not match"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("hash of the GGUF header"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(cache_b.string()), std::string::npos) << r.error().message;

    Opened a_big = open_model(a.file->path(), 2 * kSmallPack);
    Path cache_a = build(a);
    r = PackCacheReader::open(cache_a, *a_big.file, a_big.plan);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::Corrupt);
    EXPECT_NE(r.error().message.find("max pack bytes"), std::string::npos) << r.error().message;
}

// A model touched but unchanged is checked by content once and accepted; a grown one is refused.
TEST(PackCache, TouchedModelIsCheckedByContentAndGrownModelIsRefused) {
    Path model = copy_model("syn-f32.gguf", "modified");
    Opened m = open_model(model);
    Path cache = build(m);
    ASSERT_TRUE(PackCacheReader::open(cache, *m.file, m.plan));

    fs::last_write_time(model, fs::last_write_time(model) + std::chrono::seconds(5));  // touch
    auto r = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_TRUE((*r)->content_checked());

    { std::ofstream(model, std::ios::app | std::ios::binary).put('\0'); }
    Opened grown = open_model(model);
    r = PackCacheReader::open(cache, *grown.file, grown.plan);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::Corrupt);
    EXPECT_NE(r.error().message.find("model size"), std::string::npos) << r.error().message;
}

namespace {

// Puts `from`'s bytes into `model` and gives it `model`'s old mtime back (`touch -r`):
// in place (same inode, as `cp from model`) or by rename (a new inode, as `mv`).
void replace_keeping_mtime(const Path& from, const Path& model, bool in_place) {
    const auto mtime = fs::last_write_time(model);
    if (in_place) {
        const std::string bytes = test::read_file(from);
        std::ofstream(model, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
    } else {
        const Path tmp = model.string() + ".new";
        fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
        fs::rename(tmp, model);
    }
    fs::last_write_time(model, mtime);
}

}  // namespace

// Issue 26, defect 1: the cache was matched by size, mtime and header only, so a model of
// the same size and header with its mtime restored (`touch -r`) was served the old packs.
TEST(PackCache, ReplacedModelOfSameSizeHeaderAndMtimeIsRefused) {
    for (const bool in_place : {true, false}) {
        SCOPED_TRACE(in_place ? "replaced in place" : "replaced by rename");
        const Path model = copy_model("syn-f32.gguf", in_place ? "replaced-cp" : "replaced-mv");
        Opened a = open_model(model);
        const Path cache = build(a);
        ASSERT_TRUE(PackCacheReader::open(cache, *a.file, a.plan));
        // B: the same file but one weight byte of the last pack (a header-identical twin).
        const Path other = model.parent_path() / "other.gguf";
        fs::copy_file(model, other, fs::copy_options::overwrite_existing);
        const PackSlice& s = a.plan.packs.back().slices.back();
        flip_byte(other, s.file_offset + s.byte_size / 2);
        replace_keeping_mtime(other, model, in_place);

        Opened b = open_model(model);
        ASSERT_EQ(b.file->file_size(), a.file->file_size());
        auto r = PackCacheReader::open(cache, *b.file, b.plan);
        ASSERT_FALSE(r) << "a cache of other content was served";
        EXPECT_EQ(r.error().code, ErrorCode::Corrupt);
        EXPECT_NE(r.error().message.find("built from other content"), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find("pack " + std::to_string(a.plan.packs.size() - 1)), std::string::npos) << r.error().message;
        // The setup rebuilds it from the new content.
        auto st = ensure_pack_cache(*b.file, b.plan, {});
        ASSERT_TRUE(st) << st.error().to_string();
        EXPECT_TRUE(st->built);
        EXPECT_NE(st->rebuilt_because.find("built from other content"), std::string::npos) << st->rebuilt_because;
        auto again = PackCacheReader::open(cache, *b.file, b.plan);
        ASSERT_TRUE(again) << again.error().to_string();
        for (const PackMetadata& p : b.plan.packs) ASSERT_TRUE(pack_equals_model(**again, *b.file, p));
    }
}

// The warm start reads no weight: once the model's identity is recorded (its ctime settled),
// open() trusts it; a damaged identity block only means one more content check.
TEST(PackCache, RecordedIdentitySparesTheContentCheck) {
    const Path model = copy_model("syn-f16.gguf", "identity");
    Opened m = open_model(model);
    std::this_thread::sleep_for(std::chrono::nanoseconds(kIdentitySettleNs) + std::chrono::milliseconds(100));
    const Path cache = build(m);  // the model's ctime is settled: the build records it
    auto r = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_FALSE((*r)->content_checked());
    flip_byte(cache, 64 + 3);  // inside the identity block
    r = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_TRUE((*r)->content_checked());
    r = PackCacheReader::open(cache, *m.file, m.plan);  // the check recorded the identity again
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_FALSE((*r)->content_checked());
    // Replaced in place with its mtime restored: the ctime moved, so the content is checked.
    const Path other = model.parent_path() / "other.gguf";
    fs::copy_file(model, other, fs::copy_options::overwrite_existing);
    flip_byte(other, m.plan.packs.front().slices.front().file_offset);
    replace_keeping_mtime(other, model, true);
    r = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_FALSE(r) << "a recorded identity vouched for replaced content";
    EXPECT_NE(r.error().message.find("built from other content"), std::string::npos) << r.error().message;
}

TEST(PackCache, InterruptedConversionLeavesNoFile) {
    Path model = copy_model("stories260K.gguf", "interrupted");
    fs::remove(pack_cache_path(model, {}));  // left by an earlier --gtest_repeat round
    Opened m = open_model(model);
    const auto before = dir_entries(model.parent_path());
    for (unsigned threads : {1u, 2u}) {
        PackCacheOptions opts;
        opts.threads = threads;
        auto c = build_pack_cache(*m.file, m.plan, opts, [](uint64 done, uint64, uint64) -> ExpectedVoid {
            if (done == 3) return make_error(ErrorCode::Io, "simulated fault after 3 packs");
            return {};
        });
        ASSERT_FALSE(c);
        EXPECT_NE(c.error().message.find("simulated fault"), std::string::npos);
        EXPECT_EQ(dir_entries(model.parent_path()), before);
        EXPECT_FALSE(fs::exists(pack_cache_path(model, {})));
    }
    // A killed conversion's temporary file (its pid is gone) is removed by the next one;
    // a live process's file is not.
    Path stale = Path(pack_cache_path(model, {}).string() + ".tmp.999999999");
    Path live = Path(pack_cache_path(model, {}).string() + ".tmp.1");
    std::ofstream(stale) << "half";
    std::ofstream(live) << "busy";
    Path first = build(m);
    EXPECT_FALSE(fs::exists(stale));
    EXPECT_TRUE(fs::exists(live));
    fs::remove(live);
    fs::remove(first);

    // A previous good cache survives a failed rebuild untouched.
    Path cache = build(m);
    uint64 size = fs::file_size(cache);
    auto c = build_pack_cache(*m.file, m.plan, {}, [](uint64, uint64, uint64) -> ExpectedVoid {
        return make_error(ErrorCode::Io, "simulated fault");
    });
    ASSERT_FALSE(c);
    EXPECT_EQ(fs::file_size(cache), size);
    EXPECT_TRUE(PackCacheReader::open(cache, *m.file, m.plan));
}

TEST(PackCache, CacheDirAndBadOptions) {
    Path model = copy_model("stories260K.gguf", "opts");
    Opened m = open_model(model);
    PackCacheOptions opts;
    opts.cache_dir = test::tmp_dir() / "opts-cache";
    fs::create_directories(opts.cache_dir);
    Path cache = build(m, opts);
    EXPECT_EQ(cache, opts.cache_dir / "stories260K.gguf.vkspack");
    EXPECT_TRUE(fs::exists(cache));

    opts.candidates = {"no-such-codec"};
    auto c = build_pack_cache(*m.file, m.plan, opts);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(c.error().message.find("no-such-codec"), std::string::npos) << c.error().message;

    opts.candidates = {};
    opts.min_saving = 1.5;
    c = build_pack_cache(*m.file, m.plan, opts);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, ErrorCode::InvalidArgument);

    opts.min_saving = 0.05;
    opts.cache_dir = test::tmp_dir() / "does-not-exist";
    c = build_pack_cache(*m.file, m.plan, opts);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, ErrorCode::Io);

    auto r = PackCacheReader::open(test::tmp_dir() / "missing.vkspack", *m.file, m.plan);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::NotFound);

    // Bad id / destination size are argument errors, not corruption.
    auto ok = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_TRUE(ok);
    std::vector<uint8> buf(m.plan.packs[0].byte_size + 1);
    EXPECT_EQ((*ok)->read_pack(0, buf).error().code, ErrorCode::InvalidArgument);
    EXPECT_EQ((*ok)->read_pack(m.plan.packs.size(), buf).error().code, ErrorCode::InvalidArgument);
}

// Runs a shell command; returns its exit status and stdout + stderr.
std::pair<int, std::string> run(const std::string& cmd) {
    test::CommandResult r = test::run_command(cmd + " 2>&1");
    return {r.status, std::move(r.out)};
}

// The command-line converter (tests/CMakeLists.txt makes test_compression depend on the
// vk_symbiote target; a test binary built without it skips).
TEST(PackCache, CommandLinePack) {
    const Path tool = Path(VKS_TEST_BINARY_DIR) / "vk_symbiote";
    if (!fs::exists(tool)) GTEST_SKIP() << tool << " not built";
    Path model = copy_model("stories260K.gguf", "cli");
    Path dir = test::tmp_dir() / "cli-cache";
    fs::create_directories(dir);
    auto [rc, out] = run("'" + tool.string() + "' pack --model '" + model.string() + "' --cache-dir '" + dir.string() + "' --max-pack-mb 0.05");
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find(".vkspack: done, "), std::string::npos) << out;
    EXPECT_NE(out.find("blosc-zstd"), std::string::npos) << out;
    EXPECT_NE(out.find("total"), std::string::npos) << out;
    // The file is the cache of the plan --max-pack-mb asked for.
    Opened m = open_model(model, uint64(0.05 * 1048576.0));
    auto r = PackCacheReader::open(dir / "stories260K.gguf.vkspack", *m.file, m.plan);
    ASSERT_TRUE(r) << r.error().to_string();
    for (const PackMetadata& p : m.plan.packs) ASSERT_TRUE(pack_equals_model(**r, *m.file, p));

    // Issue 26, defect 9: a missing --cache-dir is created, as generate does.
    std::tie(rc, out) = run("'" + tool.string() + "' pack --model '" + model.string() + "' --cache-dir '" + (dir / "missing" / "dir").string() + "'");
    EXPECT_EQ(rc, 0) << out;
    EXPECT_TRUE(fs::exists(dir / "missing" / "dir" / "stories260K.gguf.vkspack")) << out;
    // A --cache-dir that cannot be a directory is an error naming it.
    std::ofstream(dir / "a-file") << "x";
    std::tie(rc, out) = run("'" + tool.string() + "' pack --model '" + model.string() + "' --cache-dir '" + (dir / "a-file" / "sub").string() + "'");
    EXPECT_NE(rc, 0) << out;
    EXPECT_NE(out.find("error:"), std::string::npos) << out;
    EXPECT_NE(out.find("a-file/sub: cannot create --cache-dir"), std::string::npos) << out;
}

// --ram-gb (as the option's text) that makes the engine stream `model` in packs of
// max_pack bytes on the CPU path at ctx 256: its minimum plus a few packs and scratch.
std::string streaming_ram_gb(const Path& model, uint64 max_pack) {
    auto g = GGUFLoader::open(model);
    EXPECT_TRUE(g) << g.error().to_string();
    if (!g) return "0";
    auto cfg = ModelConfig::from_source(**g);
    EXPECT_TRUE(cfg) << cfg.error().to_string();
    if (!cfg) return "0";
    PackOptions o;
    o.max_pack_bytes = max_pack;
    o.activation_kv_bytes = estimate_activation_kv_bytes(*cfg, 256, 512);  // ctx 256, the engine's batch of 512
    auto min = PackWeightProvider::minimum_ram_budget(model, o);
    EXPECT_TRUE(min) << min.error().to_string();
    if (!min) return "0";
    const uint64 budget = *min + o.io_threads * (max_pack + 4 * 4096) + 8 * pack_buffer_bytes(max_pack);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", double(budget) / (1024.0 * 1024.0 * 1024.0));
    return buf;
}

// `vk_symbiote pack --compression-algorithm exponent` writes the cache a run with the same
// option wants: the run reads it as it is (no "built now", file untouched), while a run
// with the default codecs rebuilds it. compression_algorithm none is refused by pack.
TEST(PackCache, CommandLinePackHonoursCompressionAlgorithm) {
    const Path tool = Path(VKS_TEST_BINARY_DIR) / "vk_symbiote";
    if (!fs::exists(tool)) GTEST_SKIP() << tool << " not built";
    Path model = copy_model("stories260K.gguf", "cli-algo");
    Path dir = test::tmp_dir() / "cli-algo-cache";
    fs::remove_all(dir);
    fs::create_directories(dir);
    const Path cache = dir / "stories260K.gguf.vkspack";
    const std::string common = "'" + tool.string() + "' --model '" + model.string() + "' --cache-dir '" + dir.string() + "' --max-pack-mb 0.05";
    auto [rc, out] = run(common + " pack --compression-algorithm exponent");
    ASSERT_EQ(rc, 0) << out;
    EXPECT_EQ(out.find("blosc-zstd"), std::string::npos) << out;

    Opened m = open_model(model, uint64(0.05 * 1048576.0));
    auto r = PackCacheReader::open(cache, *m.file, m.plan);
    ASSERT_TRUE(r) << r.error().to_string();
    PackCacheOptions want;
    want.candidates = {"exponent"};
    EXPECT_EQ((*r)->codec_names(), pack_cache_codec_list(want));
    bool any_exponent = false;
    for (uint64 i = 0; i < (*r)->pack_count(); ++i) any_exponent |= (*r)->codec_name(i) == "exponent";
    EXPECT_TRUE(any_exponent) << "no pack of stories260K stored with the exponent codec";
    r->reset();
    const auto written = fs::last_write_time(cache);

    const std::string gen = common + " --disable-gpu --ram-gb " + streaming_ram_gb(model, uint64(0.05 * 1048576.0)) +
                            " --ctx-size 256 --log-level INFO generate --prompt 'Once upon a time' --max-tokens 4";
    std::tie(rc, out) = run(gen + " --compression-algorithm exponent");
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("weights streamed in packs"), std::string::npos) << out;
    EXPECT_NE(out.find("read from the pack cache " + cache.string()), std::string::npos) << out;
    EXPECT_EQ(out.find("built now"), std::string::npos) << out;
    EXPECT_EQ(out.find("rebuilt"), std::string::npos) << out;
    EXPECT_EQ(fs::last_write_time(cache), written);

    // The same run with the default codecs does not accept that cache.
    std::tie(rc, out) = run(gen);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("was rebuilt"), std::string::npos) << out;
    EXPECT_NE(out.find("built now"), std::string::npos) << out;

    // `pack` with compression_algorithm none (as --no-compression) writes a cache of raw packs.
    std::tie(rc, out) = run(common + " pack --compression-algorithm none");
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("uncompressed ->"), std::string::npos) << out;
    EXPECT_EQ(out.find("blosc-zstd"), std::string::npos) << out;
}

}  // namespace

#include "probe/Probes.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

namespace vk_symbiote::probe {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string errno_text() { return std::strerror(errno); }

struct AlignedFree {
    void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<uint8, AlignedFree>;

AlignedBuffer aligned_alloc_bytes(uint64 bytes, uint64 alignment) {
    void* p = nullptr;
    if (posix_memalign(&p, alignment, bytes) != 0) return nullptr;
    return AlignedBuffer(static_cast<uint8*>(p));
}

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// Reads [0, limit) of fd in blocks, `in_flight` of them at a time: thread t reads blocks
// t, t + in_flight, ... (a sequential read with that many requests queued, as read-ahead
// or several I/O threads keep it; one request at a time leaves a disk with per-request
// latency idle in between). Returns bytes read or the first error. With O_DIRECT the last
// block is rounded up (the kernel returns the short tail). bufs: in_flight blocks.
Expected<uint64> read_sequential(int fd, const std::vector<uint8*>& bufs, uint64 block, uint64 limit, const Path& file) {
    const uint64 n_blocks = (limit + block - 1) / block;
    std::atomic<uint64> done{0};
    std::mutex mu;
    std::optional<Error> err;
    auto reader = [&](uint32 t) {
        for (uint64 k = t; k < n_blocks; k += bufs.size()) {
            const uint64 off = k * block;
            ssize_t n = ::pread(fd, bufs[t], block, off_t(off));
            while (n < 0 && errno == EINTR) n = ::pread(fd, bufs[t], block, off_t(off));
            if (n < 0) {
                std::lock_guard<std::mutex> g(mu);
                if (!err) err = Error{ErrorCode::Io, file.string() + ": read at offset " + std::to_string(off) + " failed: " + errno_text()};
                return;
            }
            done += uint64(n);
            if (uint64(n) < block) return;  // end of file
        }
    };
    std::vector<std::thread> threads;
    for (uint32 t = 1; t < bufs.size(); ++t) threads.emplace_back(reader, t);
    reader(0);
    for (auto& th : threads) th.join();
    if (err) return *err;
    return done.load();  // may pass `limit` by less than one block: those bytes were timed too
}

}  // namespace

Expected<Bandwidth> probe_disk_read(const Path& file, const DiskProbeOptions& opts) {
    const uint64 kAlign = 4096;
    if (opts.block_bytes == 0 || opts.block_bytes % kAlign != 0)
        return make_error(ErrorCode::InvalidArgument, "disk probe: block size " + std::to_string(opts.block_bytes) + " is not a multiple of 4096");
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return make_error(ErrorCode::Io, file.string() + ": cannot stat: " + errno_text());
    uint64 limit = std::min<uint64>(uint64(st.st_size), opts.max_bytes);
    if (limit == 0) return make_error(ErrorCode::InvalidArgument, file.string() + ": empty file, nothing to read for the disk probe");

    const uint32 in_flight = std::max<uint32>(1, opts.in_flight);
    std::vector<AlignedBuffer> owned;
    std::vector<uint8*> bufs;
    for (uint32 i = 0; i < in_flight; ++i) {
        owned.push_back(aligned_alloc_bytes(opts.block_bytes, kAlign));
        if (!owned.back()) return make_error(ErrorCode::OutOfMemory, "disk probe: cannot allocate a " + std::to_string(opts.block_bytes) + "-byte buffer");
        bufs.push_back(owned.back().get());
    }

    Bandwidth b;
    Fd f;
    bool direct = false;
    if (opts.allow_direct) {
        f.fd = ::open(file.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
        direct = f.fd >= 0;  // EINVAL on filesystems without O_DIRECT (tmpfs, some overlays)
    }
    if (!direct) {
        f.fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        if (f.fd < 0) return make_error(ErrorCode::Io, file.string() + ": cannot open: " + errno_text());
        // Drop the file's clean cached pages so the read comes from the device. Pages other
        // processes hold mapped or dirty stay cached: the figure is then an upper bound.
        int rc = ::posix_fadvise(f.fd, 0, 0, POSIX_FADV_DONTNEED);
        ::posix_fadvise(f.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        b.method = rc == 0 ? "posix_fadvise(DONTNEED) then buffered sequential read" : "buffered sequential read (cache state unknown)";
        if (rc != 0) b.note = "posix_fadvise failed: " + std::string(std::strerror(rc));
    } else {
        b.method = "O_DIRECT sequential read";
    }
    b.method += ", " + std::to_string(opts.block_bytes >> 20) + " MiB blocks, " + std::to_string(in_flight) + " in flight";

    auto t0 = Clock::now();
    auto n = read_sequential(f.fd, bufs, opts.block_bytes, limit, file);
    if (!n && direct) {
        // Some filesystems accept O_DIRECT at open and reject the read (EINVAL): retry buffered.
        DiskProbeOptions o = opts;
        o.allow_direct = false;
        return probe_disk_read(file, o);
    }
    if (!n) return n.error();
    double s = seconds_since(t0);
    if (*n == 0 || s <= 0) return make_error(ErrorCode::Io, file.string() + ": disk probe read no data");
    b.bytes = *n;
    b.gbps = double(*n) / s / 1e9;
    b.measured = true;
    if (limit < uint64(256) << 20 && b.note.empty()) b.note = "small read (" + std::to_string(limit >> 20) + " MiB): figure is rough";
    return b;
}

uint64 last_level_cache_bytes() {
    uint64 best = 0;
    for (int idx = 0; idx < 8; ++idx) {
        std::ifstream in("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(idx) + "/size");
        if (!in) continue;
        std::string s;
        in >> s;
        if (s.empty()) continue;
        uint64 v = std::strtoull(s.c_str(), nullptr, 10);
        char unit = s.back();
        if (unit == 'K') v <<= 10;
        else if (unit == 'M') v <<= 20;
        else if (unit == 'G') v <<= 30;
        best = std::max(best, v);
    }
    return best;
}

Expected<Bandwidth> probe_host_memory(const HostMemoryProbeOptions& opts) {
    uint32 threads = opts.threads ? opts.threads : std::max(1u, std::thread::hardware_concurrency());
    uint64 bytes = opts.buffer_bytes;
    if (bytes == 0) bytes = std::max<uint64>(uint64(1) << 30, 8 * last_level_cache_bytes());
    const uint64 kLine = 64, kHugePage = uint64(2) << 20;
    uint64 per_thread = (bytes / threads) / kLine * kLine;
    if (per_thread == 0) return make_error(ErrorCode::InvalidArgument, "host memory probe: buffer of " + std::to_string(bytes) + " bytes is too small for " + std::to_string(threads) + " threads");
    uint64 words = per_thread / sizeof(uint64);

    // One slice per thread, allocated and first-touched by its thread (NUMA-local), 2 MiB
    // aligned and advised to transparent huge pages as the engine's RAM-resident weights are
    // (FileWeightProvider): with 4 KiB pages the prefetchers stop at every page and the probe
    // read less than the CPU path's matvecs (figures: docs/tuning.md).
    std::vector<AlignedBuffer> slices(threads);
    std::vector<double> best_seconds(threads, 1e30);
    std::atomic<bool> alloc_failed{false};
    std::atomic<uint64> sink{0};
    uint32 reps = std::max(1u, opts.repetitions);
    std::barrier sync(std::ptrdiff_t(threads) + 1);
    std::vector<Clock::time_point> rep_start(reps), rep_end(reps);

    auto worker = [&](uint32 t) {
        slices[t] = aligned_alloc_bytes(per_thread, kHugePage);
        if (!slices[t]) {
            alloc_failed = true;
        } else {
            ::madvise(slices[t].get(), per_thread, MADV_HUGEPAGE);  // advice only: failure changes nothing
            std::memset(slices[t].get(), int(t + 1), per_thread);
        }
        sync.arrive_and_wait();  // all allocated
        for (uint32 r = 0; r < reps; ++r) {
            sync.arrive_and_wait();  // start together
            if (!alloc_failed) {
                const uint64* p = reinterpret_cast<const uint64*>(slices[t].get());
                uint64 a0 = 0, a1 = 0, a2 = 0, a3 = 0;  // independent chains so loads overlap
                for (uint64 i = 0; i + 4 <= words; i += 4) {
                    a0 += p[i];
                    a1 += p[i + 1];
                    a2 += p[i + 2];
                    a3 += p[i + 3];
                }
                sink += a0 ^ a1 ^ a2 ^ a3;  // keeps the loop from being optimized away
            }
            sync.arrive_and_wait();  // all done
        }
    };
    std::vector<std::thread> pool;
    for (uint32 t = 0; t < threads; ++t) pool.emplace_back(worker, t);
    sync.arrive_and_wait();
    for (uint32 r = 0; r < reps; ++r) {
        rep_start[r] = Clock::now();
        sync.arrive_and_wait();
        sync.arrive_and_wait();
        rep_end[r] = Clock::now();
    }
    for (auto& th : pool) th.join();
    if (alloc_failed) return make_error(ErrorCode::OutOfMemory, "host memory probe: cannot allocate " + std::to_string(bytes) + " bytes");

    double best = 1e30;
    for (uint32 r = 0; r < reps; ++r) best = std::min(best, std::chrono::duration<double>(rep_end[r] - rep_start[r]).count());
    Bandwidth b;
    b.bytes = per_thread * threads;
    b.gbps = double(b.bytes) / best / 1e9;
    b.measured = best > 0;  // the atomic adds to `sink` keep the sums from being optimized away
    b.method = "streaming 64-bit sum, " + std::to_string(threads) + " threads, " + std::to_string(b.bytes >> 20) + " MiB buffer (huge pages advised), best of " + std::to_string(reps);
    uint64 llc = last_level_cache_bytes();
    if (llc && b.bytes < 4 * llc) b.note = "buffer is not much larger than the last-level cache: figure includes cache hits";
    return b;
}

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
    return buf;
}

std::string cpu_model_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            auto c = line.find(':');
            if (c != std::string::npos) {
                std::string v = line.substr(c + 1);
                v.erase(0, v.find_first_not_of(" \t"));
                return v;
            }
        }
    }
    return "unknown cpu";
}

std::string utc_now_iso8601() {
    std::time_t t = std::time(nullptr);
    std::tm tm {};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string machine_key(const std::string& hostname, const std::string& cpu, const std::string& device) {
    return hostname + " | " + cpu + " | " + (device.empty() ? "no device" : device);
}

namespace {

uint64 status_kib(const char* field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    size_t n = std::strlen(field);
    while (std::getline(in, line))
        if (line.compare(0, n, field) == 0) return std::strtoull(line.c_str() + n, nullptr, 10);
    return 0;
}

}  // namespace

uint64 peak_rss_bytes() { return status_kib("VmHWM:") * 1024; }

bool reset_peak_rss() {
    std::ofstream out("/proc/self/clear_refs");
    if (!out) return false;
    out << "5";
    out.flush();
    return bool(out);
}

Expected<ProbeResults> ProbeCache::load(const std::string& key) const {
    std::ifstream in(file_);
    if (!in) return make_error(ErrorCode::NotFound, file_.string() + ": no probe cache");
    nlohmann::json j;
    try {
        in >> j;
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::Format, file_.string() + ": not valid JSON: " + e.what());
    }
    if (!j.is_object() || !j.contains("machines") || !j["machines"].is_object())
        return make_error(ErrorCode::Format, file_.string() + ": missing object 'machines'");
    // Entries of an older layout lack today's probes: measure again rather than fail.
    if (!j.contains("schema_version") || j["schema_version"] != kProbeCacheSchemaVersion)
        return make_error(ErrorCode::NotFound, file_.string() + ": written by an older version (schema_version " +
                                                   (j.contains("schema_version") ? j["schema_version"].dump() : std::string("missing")) + ", now " +
                                                   std::to_string(kProbeCacheSchemaVersion) + ")");
    auto it = j["machines"].find(key);
    if (it == j["machines"].end()) return make_error(ErrorCode::NotFound, file_.string() + ": no entry for machine '" + key + "'");
    auto p = probes_from_json(*it);
    if (!p) return make_error(p.error().code, file_.string() + ": " + p.error().message);
    p->from_cache = true;
    return p;
}

ExpectedVoid ProbeCache::store(const ProbeResults& results) const {
    nlohmann::json j = {{"schema_version", kProbeCacheSchemaVersion}, {"machines", nlohmann::json::object()}};
    {
        std::ifstream in(file_);
        if (in) {
            try {
                nlohmann::json old;
                in >> old;
                if (old.is_object() && old.contains("machines") && old["machines"].is_object() && old.value("schema_version", 0) == kProbeCacheSchemaVersion)
                    j["machines"] = old["machines"];
            } catch (const nlohmann::json::exception&) {
                // A damaged cache is replaced rather than fatal: it only holds measurements.
            }
        }
    }
    nlohmann::json entry = to_json(results);
    entry["from_cache"] = false;
    j["machines"][results.machine_key] = entry;
    std::error_code ec;
    std::filesystem::create_directories(file_.parent_path(), ec);
    if (ec) return make_error(ErrorCode::Io, file_.parent_path().string() + ": cannot create cache directory: " + ec.message());
    Path tmp = file_;
    tmp += ".tmp" + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::trunc);
        if (!out) return make_error(ErrorCode::Io, tmp.string() + ": cannot write probe cache");
        out << j.dump(2) << "\n";
        if (!out) return make_error(ErrorCode::Io, tmp.string() + ": write failed");
    }
    std::filesystem::rename(tmp, file_, ec);
    if (ec) return make_error(ErrorCode::Io, file_.string() + ": cannot replace probe cache: " + ec.message());
    return {};
}

Path default_cache_dir() {
    if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return Path(x) / "vk_symbiote";
    if (const char* h = std::getenv("HOME"); h && *h) return Path(h) / ".cache" / "vk_symbiote";
    return Path(".cache") / "vk_symbiote";  // no home: relative to the working directory
}

}  // namespace vk_symbiote::probe

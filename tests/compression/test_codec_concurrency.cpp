// Several threads compress and decompress at once through shared codec objects (as
// the I/O threads do); every result must still be bit-exact.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "compression/CodecSamples.h"
#include "CodecTestUtil.h"

using namespace vk_symbiote;

TEST(CodecConcurrency, SharedCodecsFromManyThreads) {
    const auto codecs = test::all_codecs();
    CodecOptions two_threads;
    two_threads.threads = 2;  // blosc's internal pool inside each call, too
    auto blosc_mt = make_codec("blosc-lz4-bit", two_threads);
    ASSERT_TRUE(blosc_mt);
    std::vector<const CompressionBackend*> use;
    for (const auto& c : codecs) use.push_back(c.get());
    use.push_back(blosc_mt->get());

    constexpr int kThreads = 8;
    std::atomic<int> failures{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < kThreads; ++t) {
        pool.emplace_back([&, t] {
            for (int iter = 0; iter < 6; ++iter) {
                const auto* c = use[size_t(t + iter) % use.size()];
                const DType dt = c->suits(DType::F16) && (t % 2) ? DType::F16 : DType::F32;
                const auto data = normal_weights(30000 + size_t(t) * 1001, dt, 0.02f, uint64(t * 100 + iter));
                auto frame = c->compress(data, dt);
                if (!frame) { ++failures; continue; }
                std::vector<uint8> out(data.size());
                if (!decompress_frame(*frame, out, 2) || out != data) ++failures;
            }
        });
    }
    for (auto& th : pool) th.join();
    EXPECT_EQ(failures.load(), 0);
}

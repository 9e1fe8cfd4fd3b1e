// RansCoder: exact round trips on skewed and degenerate symbol distributions, size
// close to the order-0 entropy, and corrupt blocks rejected.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "compression/RansCoder.h"
#include "CodecTestUtil.h"

using namespace vk_symbiote;

namespace {

double entropy_bytes(const std::vector<uint8>& v) {
    std::vector<double> h(256, 0);
    for (uint8 s : v) h[s]++;
    double bits = 0;
    for (double c : h)
        if (c) bits -= c * std::log2(c / double(v.size()));
    return bits / 8;
}

void expect_roundtrip(const std::vector<uint8>& v, const char* what) {
    std::vector<uint8> enc;
    rans_encode(v, enc);
    std::vector<uint8> dec(v.size());
    auto r = rans_decode(enc, dec);
    ASSERT_TRUE(r) << what << ": " << r.error().to_string();
    EXPECT_TRUE(test::same_bytes(v, dec)) << what;
}

}  // namespace

TEST(Rans, DegenerateAndSkewedDistributions) {
    expect_roundtrip({7}, "one symbol");
    expect_roundtrip(std::vector<uint8>(100000, 3), "constant");
    std::vector<uint8> rare(300000, 9);
    for (int s = 0; s < 256; ++s) rare[size_t(s) * 1000] = uint8(s);  // 255 symbols seen once
    expect_roundtrip(rare, "one common + 255 rare");
    expect_roundtrip(test::random_bytes(200001, 3), "uniform");
    std::vector<uint8> two(4097);
    for (size_t i = 0; i < two.size(); ++i) two[i] = uint8(i % 7 == 0 ? 200 : 100);
    expect_roundtrip(two, "two symbols");
}

TEST(Rans, SizeNearOrderZeroEntropy) {
    std::mt19937_64 rng(1);
    std::geometric_distribution<int> g(0.45);  // exponent-like skew
    std::vector<uint8> v(1 << 18);
    for (auto& s : v) s = uint8(120 - std::min(g(rng), 100));
    std::vector<uint8> enc;
    rans_encode(v, enc);
    const double h = entropy_bytes(v);
    EXPECT_LT(double(enc.size()), h * 1.01 + 200) << "entropy " << h << " bytes";
    EXPECT_GT(double(enc.size()), h * 0.999);
}

TEST(Rans, CorruptBlocksAreErrors) {
    const auto v = test::random_bytes(5000, 8);
    std::vector<uint8> enc;
    rans_encode(v, enc);
    std::vector<uint8> dec(v.size());
    int detected = 0, trials = 0;
    for (size_t i = 0; i < enc.size(); i += 1 + enc.size() / 500, ++trials) {
        auto bad = enc;
        bad[i] ^= 0x10;
        if (!rans_decode(bad, dec)) ++detected;  // never crashes; nearly always detected
    }
    EXPECT_GT(detected, trials * 9 / 10);
    for (size_t len : {size_t(0), size_t(1), size_t(5), enc.size() - 1})
        EXPECT_FALSE(rans_decode(std::span<const uint8>(enc.data(), len), dec));
    std::vector<uint8> longer(v.size() + 1);
    EXPECT_FALSE(rans_decode(enc, longer));
}

#include "compression/RansCoder.h"

#include <algorithm>
#include <array>

namespace vk_symbiote {

namespace {

constexpr uint32 kScaleBits = 12;
constexpr uint32 kScale = 1u << kScaleBits;
constexpr uint32 kLow = 1u << 16;  // states live in [kLow, 2^32)
constexpr int kStates = 4;

Error corrupt(const std::string& what) { return make_error(ErrorCode::Corrupt, "rans block: " + what); }

// Symbol counts scaled to frequencies summing to kScale, every present symbol >= 1.
std::array<uint32, 256> normalise(std::span<const uint8> src) {
    std::array<uint64, 256> count{};
    for (uint8 s : src) count[s]++;
    std::array<uint32, 256> freq{};
    int64 sum = 0;
    for (int s = 0; s < 256; ++s) {
        if (!count[s]) continue;
        freq[s] = uint32(std::max<uint64>(1, count[s] * kScale / src.size()));
        sum += freq[s];
    }
    // Fix the rounding on the most frequent symbols (they lose the least per unit).
    while (sum != int64(kScale)) {
        const int big = int(std::max_element(freq.begin(), freq.end()) - freq.begin());
        if (sum < int64(kScale)) {
            freq[big] += uint32(int64(kScale) - sum);
            sum = kScale;
        } else {
            const uint32 take = uint32(std::min<int64>(sum - int64(kScale), int64(freq[big]) - 1));
            freq[big] -= take;  // freq[big] >= 2 whenever sum > kScale (256 * 1 < kScale)
            sum -= take;
        }
    }
    return freq;
}

void put_u16(std::vector<uint8>& out, uint32 v) {
    out.push_back(uint8(v));
    out.push_back(uint8(v >> 8));
}

// Encodes one symbol into state x, emitting at most one 16-bit word backwards at *p.
inline void encode_put(uint32& x, uint8*& p, uint32 start, uint32 freq) {
    const uint64 x_max = uint64((kLow >> kScaleBits) << 16) * freq;  // 2^32 when freq == kScale
    if (x >= x_max) {
        p -= 2;
        p[0] = uint8(x);
        p[1] = uint8(x >> 8);
        x >>= 16;
    }
    x = ((x / freq) << kScaleBits) + (x % freq) + start;
}

// Decodes one symbol from state s (slot table as in rans_decode); reads a word at p
// when the state drops below kLow. The caller guarantees two readable bytes at p.
inline uint8 decode_one(uint32& s, const uint8*& p, const uint32* slots) {
    const uint32 e = slots[s & (kScale - 1)];
    s = ((e >> 8 & 0xFFF) + 1) * (s >> kScaleBits) + (e >> 20);
    const bool need = s < kLow;
    const uint32 w = uint32(p[0]) | uint32(p[1]) << 8;
    s = need ? (s << 16 | w) : s;
    p += need ? 2 : 0;
    return uint8(e);
}

}  // namespace

void rans_encode(std::span<const uint8> src, std::vector<uint8>& out) {
    const auto freq = normalise(src);
    std::array<uint32, 256> start{};
    uint32 nsym = 0;
    for (uint32 s = 0, c = 0; s < 256; ++s) {
        start[s] = c;
        c += freq[s];
        nsym += freq[s] ? 1 : 0;
    }
    put_u16(out, nsym);
    for (uint32 s = 0; s < 256; ++s)
        if (freq[s]) {
            out.push_back(uint8(s));
            put_u16(out, freq[s]);
        }
    // At most one 16-bit word per symbol plus the four states; written back to front.
    std::vector<uint8> buf(src.size() * 2 + 4 * kStates);
    uint8* const end = buf.data() + buf.size();
    uint8* p = end;
    uint32 x[kStates] = {kLow, kLow, kLow, kLow};
    for (size_t i = src.size(); i-- > 0;) encode_put(x[i % kStates], p, start[src[i]], freq[src[i]]);
    for (int k = kStates - 1; k >= 0; --k) {  // last state first so state 0 comes first in memory
        p -= 4;
        for (int b = 0; b < 4; ++b) p[b] = uint8(x[k] >> (8 * b));
    }
    out.insert(out.end(), p, end);
}

ExpectedVoid rans_decode(std::span<const uint8> src, std::span<uint8> dst) {
    if (src.size() < 2) return corrupt("missing symbol table");
    const uint32 nsym = uint32(src[0]) | uint32(src[1]) << 8;
    if (nsym == 0 || nsym > 256 || src.size() < 2 + 3 * size_t(nsym) + 4 * kStates)
        return corrupt("symbol table of " + std::to_string(nsym) + " entries does not fit " +
                       std::to_string(src.size()) + " bytes");
    // Slot table: symbol | (freq - 1) << 8 | (slot - start) << 20.
    std::vector<uint32> slots(kScale);
    const uint8* t = src.data() + 2;
    uint32 cum = 0;
    int prev = -1;
    for (uint32 k = 0; k < nsym; ++k, t += 3) {
        const uint32 s = t[0], f = uint32(t[1]) | uint32(t[2]) << 8;
        if (int(s) <= prev || f == 0 || f > kScale - cum) return corrupt("bad symbol table entry " + std::to_string(k));
        for (uint32 j = 0; j < f; ++j) slots[cum + j] = s | (f - 1) << 8 | j << 20;
        cum += f;
        prev = int(s);
    }
    if (cum != kScale) return corrupt("frequencies sum to " + std::to_string(cum));
    const uint8* p = t;
    const uint8* const end = src.data() + src.size();
    uint32 x[kStates];
    for (int k = 0; k < kStates; ++k, p += 4) {
        x[k] = uint32(p[0]) | uint32(p[1]) << 8 | uint32(p[2]) << 16 | uint32(p[3]) << 24;
        if (x[k] < kLow) return corrupt("initial state out of range");
    }
    // Fast path: a group of 4 symbols reads at most 8 bytes, so check once per group.
    size_t i = 0;
    for (; i + kStates <= dst.size() && end - p >= 2 * kStates; i += kStates)
        for (int k = 0; k < kStates; ++k) dst[i + size_t(k)] = decode_one(x[k], p, slots.data());
    for (; i < dst.size(); ++i) {
        uint32& s = x[i % kStates];
        if (end - p < 2) {  // may still need no word; decode with a zero pad, then check
            const uint8 pad[2] = {0, 0};
            const uint8* q = pad;
            dst[i] = decode_one(s, q, slots.data());
            if (q != pad) return corrupt("stream ends early at symbol " + std::to_string(i));
        } else {
            dst[i] = decode_one(s, p, slots.data());
        }
    }
    for (int k = 0; k < kStates; ++k)
        if (x[k] != kLow) return corrupt("final state check failed");
    if (p != end) return corrupt("final state check failed");
    return {};
}

}  // namespace vk_symbiote

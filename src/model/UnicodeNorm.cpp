#include "model/UnicodeNorm.h"

#include <algorithm>

#include "model/UnicodeNormData.h"

namespace vk_symbiote::unicode {

namespace {

namespace ud = unicode_data;

// Hangul syllables decompose and compose arithmetically (The Unicode Standard, section 3.12).
constexpr uint32 kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32 kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32 kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

const ud::Decomposition* find_decomposition(uint32 cpt) {
    const ud::Decomposition* end = ud::kDecompositions + ud::kDecompositionCount;
    const ud::Decomposition* d =
        std::lower_bound(ud::kDecompositions, end, cpt, [](const ud::Decomposition& e, uint32 c) { return e.cpt < c; });
    return d != end && d->cpt == cpt ? d : nullptr;
}

// Full canonical decomposition of one codepoint, appended to `out`.
void decompose(uint32 cpt, std::vector<uint32>& out) {
    if (cpt < 0xC0) {  // nothing below U+00C0 decomposes: the fast path for ASCII
        out.push_back(cpt);
        return;
    }
    if (cpt >= kSBase && cpt < kSBase + kSCount) {
        const uint32 s = cpt - kSBase;
        out.push_back(kLBase + s / kNCount);
        out.push_back(kVBase + (s % kNCount) / kTCount);
        if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
        return;
    }
    const ud::Decomposition* d = find_decomposition(cpt);
    if (d == nullptr) {
        out.push_back(cpt);
        return;
    }
    decompose(d->first, out);
    if (d->second != 0) decompose(d->second, out);
}

// Canonical ordering: every run of non-starters sorted by combining class, stably.
void reorder(std::vector<uint32>& cpts) {
    size_t i = 0;
    while (i < cpts.size()) {
        if (combining_class(cpts[i]) == 0) {
            ++i;
            continue;
        }
        size_t end = i;
        while (end < cpts.size() && combining_class(cpts[end]) != 0) ++end;
        std::stable_sort(cpts.begin() + static_cast<std::ptrdiff_t>(i), cpts.begin() + static_cast<std::ptrdiff_t>(end),
                         [](uint32 a, uint32 b) { return combining_class(a) < combining_class(b); });
        i = end;
    }
}

// Primary composites: (first, second) -> composite, sorted by the pair.
struct Composition {
    uint32 first, second, composite;
};
const std::vector<Composition>& compositions() {
    static const std::vector<Composition> table = [] {
        std::vector<Composition> t;
        for (size_t i = 0; i < ud::kDecompositionCount; ++i) {
            const ud::Decomposition& d = ud::kDecompositions[i];
            if (d.composes) t.push_back({d.first, d.second, d.cpt});
        }
        std::sort(t.begin(), t.end(), [](const Composition& a, const Composition& b) {
            return a.first != b.first ? a.first < b.first : a.second < b.second;
        });
        return t;
    }();
    return table;
}

// The primary composite of (a, b), or 0 if none.
uint32 compose_pair(uint32 a, uint32 b) {
    if (b < 0x300) return 0;  // every second character of a composition is U+0300 or above
    if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
        return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
        return a + (b - kTBase);
    const std::vector<Composition>& t = compositions();
    auto it = std::lower_bound(t.begin(), t.end(), Composition{a, b, 0}, [](const Composition& x, const Composition& y) {
        return x.first != y.first ? x.first < y.first : x.second < y.second;
    });
    return it != t.end() && it->first == a && it->second == b ? it->composite : 0;
}

// Canonical composition of a decomposed, reordered sequence (UAX #15's algorithm): each
// character combines with the last starter unless a character of the same or a higher
// class stands between them (it is "blocked").
void compose(std::vector<uint32>& c) {
    if (c.empty()) return;
    size_t starter = 0, kept = 1;
    int last_class = combining_class(c[0]) == 0 ? 0 : 256;  // a leading non-starter composes with nothing
    for (size_t i = 1; i < c.size(); ++i) {
        const int cls = combining_class(c[i]);
        const uint32 composite = compose_pair(c[starter], c[i]);
        if (composite != 0 && (last_class < cls || last_class == 0)) {
            c[starter] = composite;
            continue;
        }
        if (cls == 0) starter = kept;
        last_class = cls;
        c[kept++] = c[i];
    }
    c.resize(kept);
}

}  // namespace

uint8 combining_class(uint32 cpt) {
    if (cpt < 0x300) return 0;  // nothing below U+0300 combines
    const ud::CombiningRun* end = ud::kCombiningRuns + ud::kCombiningRunCount;
    const ud::CombiningRun* r =
        std::upper_bound(ud::kCombiningRuns, end, cpt, [](uint32 c, const ud::CombiningRun& run) { return c < run.first; });
    if (r == ud::kCombiningRuns) return 0;
    --r;
    return cpt <= r->last ? r->ccc : 0;
}

std::vector<uint32> to_nfd(const std::vector<uint32>& cpts) {
    std::vector<uint32> out;
    out.reserve(cpts.size());
    for (uint32 c : cpts) decompose(c, out);
    reorder(out);
    return out;
}

std::vector<uint32> to_nfc(const std::vector<uint32>& cpts) {
    std::vector<uint32> out = to_nfd(cpts);
    compose(out);
    return out;
}

}  // namespace vk_symbiote::unicode

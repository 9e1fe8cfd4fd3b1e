// Helpers shared by the tests/packs files: open a model with its registry, list the
// test models, read a pack's expected bytes straight from the file.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "gguf/GGUFLoader.h"
#include "model/LoadedModel.h"
#include "packs/NomadPackManager.h"
#include "packs/PackPlanner.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"
#include "support/TestPaths.h"

namespace vk_symbiote::packtest {

inline std::vector<std::string> model_names() {
    return {"stories260K.gguf", "syn-f32.gguf", "syn-f16.gguf", "syn-bf16.gguf", "syn-spm-f16.gguf"};
}

struct OpenModel {
    std::shared_ptr<const ModelSource> file;
    ModelConfig cfg;
    TensorRegistry reg;
};

inline OpenModel open_model(const Path& path) {
    OpenModel m;
    auto g = open_model_source(path);
    EXPECT_TRUE(g) << g.error().to_string();
    if (!g) return m;
    m.file = std::move(*g);
    auto c = ModelConfig::from_source(*m.file);
    EXPECT_TRUE(c) << c.error().to_string();
    if (!c) return m;
    m.cfg = *c;
    auto r = TensorRegistry::bind(m.cfg, *m.file);
    EXPECT_TRUE(r) << r.error().to_string();
    if (r) m.reg = *r;
    return m;
}

// Every slice of `p` read directly from the file, laid out like the pack's buffer.
inline std::vector<uint8> expected_pack_bytes(const ModelSource& f, const PackMetadata& p) {
    std::vector<uint8> out(p.byte_size, 0);
    for (const auto& s : p.slices) {
        auto r = f.read_range(s.file_offset, s.byte_size, out.data() + s.pack_offset);
        EXPECT_TRUE(r) << r.error().to_string();
    }
    return out;
}

// Compares only the slice bytes (gaps between slices are unspecified).
inline bool pack_matches(const ModelSource& f, const PackMetadata& p, const uint8* data) {
    auto want = expected_pack_bytes(f, p);
    for (const auto& s : p.slices)
        if (std::memcmp(want.data() + s.pack_offset, data + s.pack_offset, s.byte_size) != 0) return false;
    return true;
}

// Waits until every pack read the manager started has finished: read-ahead runs on the
// I/O threads and may still be in flight when the forward pass returns, and counters
// taken meanwhile (manager vs I/O stats) would disagree.
inline void wait_for_reads(const NomadPackManager& m) {
    for (int i = 0; i < 2000; ++i) {
        uint64 started = 0;
        for (uint64 id = 0; id < m.pack_count(); ++id) started += m.pack_loads(id);
        const PackTierStats s = m.get_ram_stats();
        if (s.loads + s.load_failures == started) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ADD_FAILURE() << "pack reads did not finish";
}

}  // namespace vk_symbiote::packtest

// libFuzzer target for the GGUF boundary: the input bytes become a file (memfd), which is
// opened with GGUFLoader (quantized tensors allowed, so the tensor table of any file is
// exercised), then ModelConfig::from_source and TensorRegistry::bind, then every tensor's
// data is read. Any crash, sanitizer report, leak or uncaught exception is a bug; errors
// returned as Expected are the expected outcome for most inputs.

#include <cstdint>
#include <cstdio>
#include <string>

#include "FuzzFile.h"
#include "gguf/GGUFLoader.h"
#include "model/ModelConfig.h"
#include "model/TensorRegistry.h"

using namespace vk_symbiote;

namespace {

void exercise(const GGUFLoader& g) {
    // Every tensor the table declares: ranged reads must stay in bounds or fail cleanly.
    for (const auto& t : g.tensors()) {
        auto bytes = g.read_tensor(t.name);
        if (bytes && bytes->size() != t.byte_size) __builtin_trap();
    }
    auto cfg = ModelConfig::from_source(g);
    if (!cfg) return;
    (void)cfg->summary();
    auto reg = TensorRegistry::bind(*cfg, g);
    if (!reg) return;
    for (const auto& d : reg->tensors()) {
        // A bound tensor lies inside the file and has the registry's exact size.
        if (d.byte_size != d.rows * d.cols * dtype_size(d.dtype)) __builtin_trap();
        if (d.file_offset + d.byte_size > g.file_size()) __builtin_trap();
    }
    (void)reg->total_bytes();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzFile f("gguf_fuzz", data, size);
    if (f.fd < 0) return 0;
    for (bool allow_quantized : {false, true}) {
        GGUFOpenOptions o;
        o.allow_quantized = allow_quantized;
        auto g = GGUFLoader::open(f.path, o);
        if (!g) {
            // Every error names the file.
            if (g.error().message.find(f.path) == std::string::npos) __builtin_trap();
            continue;
        }
        exercise(**g);
    }
    return 0;
}

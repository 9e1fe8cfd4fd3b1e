// libFuzzer target for the Hugging Face folder boundary: the input bytes become a file
// (memfd) opened with SafetensorsFile exactly as the engine opens a shard, then every
// tensor's data is read; the same bytes are also parsed as a config.json. Any crash,
// sanitizer report, leak or uncaught exception is a bug; errors returned as Expected are
// the expected outcome for most inputs, and every error names the file.

#include <cstdint>
#include <string>
#include <string_view>

#include "FuzzFile.h"
#include "hf/HfConfig.h"
#include "hf/SafetensorsFile.h"

using namespace vk_symbiote;

namespace {

void exercise(const SafetensorsFile& f) {
    uint64 pos = f.data_offset();
    for (const auto& t : f.tensors()) {
        // Accepted tensors tile the data section in order and read back whole.
        if (t.file_offset != pos || t.byte_size != t.n_elements * dtype_size(t.dtype)) __builtin_trap();
        pos += t.byte_size;
        auto bytes = f.read_tensor(t.name);
        if (!bytes || bytes->size() != t.byte_size) __builtin_trap();
    }
    if (pos != f.file_size()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    FuzzFile file("safetensors_fuzz", data, size);
    if (file.fd >= 0) {
        auto f = SafetensorsFile::open(file.path);
        if (f) exercise(**f);
        else if (f.error().message.find(file.path) == std::string::npos) __builtin_trap();
    }
    auto cfg = parse_hf_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
    if (cfg && (cfg->head_dim == 0 || cfg->num_attention_heads % cfg->num_key_value_heads != 0 || cfg->sliding_layers.size() != cfg->num_hidden_layers))
        __builtin_trap();
    return 0;
}

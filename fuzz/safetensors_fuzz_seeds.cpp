// Writes a seed corpus for safetensors_fuzz into OUT_DIR from the Hugging Face folders in
// HF_DIR (../shared/models/hf):
//   - each checkpoint's header with the first bytes of its data (real names and layouts);
//   - each checkpoint shrunk to a complete valid file: the same tensors and dtypes, every
//     dimension cut to at most 2, so the fuzzer starts from inputs that pass every check;
//   - each config.json (the target also parses its input as a config).
// usage: safetensors_fuzz_seeds OUT_DIR HF_DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "hf/SafetensorsFile.h"
#include "hf/SafetensorsWriter.h"

using namespace vk_symbiote;
namespace fs = std::filesystem;

namespace {

bool copy_prefix(const fs::path& from, uint64 bytes, const fs::path& to) {
    std::ifstream in(from, std::ios::binary);
    std::string s(size_t(bytes), '\0');
    in.read(s.data(), std::streamsize(s.size()));
    s.resize(size_t(in.gcount()));
    std::ofstream(to, std::ios::binary).write(s.data(), std::streamsize(s.size()));
    return !s.empty();
}

bool write_shrunk(const SafetensorsFile& f, const fs::path& to) {
    SafetensorsWriter w;
    for (const auto& [k, v] : f.metadata()) w.set_metadata(k, v);
    for (const auto& t : f.tensors()) {
        std::vector<uint64> shape = t.shape;
        for (auto& d : shape) d = std::min<uint64>(d, 2);
        w.add_tensor(t.name, t.dtype, shape);
    }
    return bool(w.write(to));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: safetensors_fuzz_seeds OUT_DIR HF_DIR\n");
        return 2;
    }
    const fs::path out = argv[1];
    std::error_code ec;
    fs::create_directories(out, ec);
    int n = 0;
    for (const auto& e : fs::directory_iterator(argv[2], ec)) {
        const std::string name = e.path().filename().string();
        auto f = SafetensorsFile::open(e.path() / "model.safetensors");
        if (!f) {
            std::fprintf(stderr, "skip %s: %s\n", name.c_str(), f.error().to_string().c_str());
            continue;
        }
        n += copy_prefix(e.path() / "model.safetensors", (*f)->data_offset() + 64, out / ("hdr_" + name + ".safetensors"));
        n += write_shrunk(**f, out / ("small_" + name + ".safetensors"));
        n += copy_prefix(e.path() / "config.json", 1 << 16, out / ("config_" + name + ".json"));
    }
    std::printf("wrote %d seeds to %s\n", n, out.c_str());
    return n > 0 ? 0 : 1;
}

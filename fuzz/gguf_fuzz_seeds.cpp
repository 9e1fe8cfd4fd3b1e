// Writes a seed corpus for gguf_fuzz into OUT_DIR:
//   - the header (everything before the data section) of every *.gguf in MODELS_DIR
//     (real metadata: tokenizer arrays, every key type the converters emit);
//   - complete, valid miniature models (f32 / f16 / bf16, with tokenizer) from
//     ModelGenerator, so the fuzzer starts from inputs that reach ModelConfig,
//     TensorRegistry and the tensor reads;
//   - a file with one metadata value of every type, nested arrays included.
// usage: gguf_fuzz_seeds OUT_DIR [MODELS_DIR]
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "gguf/GGUFLoader.h"
#include "gguf/GGUFWriter.h"
#include "model/ModelGenerator.h"

using namespace vk_symbiote;
namespace fs = std::filesystem;

namespace {

bool write_header_seed(const fs::path& model, const fs::path& out) {
    auto g = GGUFLoader::open(model, GGUFOpenOptions{true});
    if (!g) {
        std::fprintf(stderr, "skip %s: %s\n", model.c_str(), g.error().to_string().c_str());
        return false;
    }
    std::vector<uint8> bytes((*g)->data_offset());
    if (!(*g)->read_range(0, bytes.size(), bytes.data())) return false;
    return bool(write_file_atomic(out, bytes));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: gguf_fuzz_seeds OUT_DIR [MODELS_DIR]\n");
        return 2;
    }
    fs::path out = argv[1];
    std::error_code ec;
    fs::create_directories(out, ec);
    int n = 0;
    if (argc > 2) {
        for (auto& e : fs::directory_iterator(argv[2], ec))
            if (e.path().extension() == ".gguf" && write_header_seed(e.path(), out / ("hdr_" + e.path().filename().string()))) ++n;
    }
    ModelShape mini{"mini", 259, 8, 1, 2, 1, 8, 32, 10000.0f};
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
        auto r = generate_model(mini, dt, out / (std::string("mini_") + dtype_name(dt) + ".gguf"), 1);
        if (!r) {
            std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
            return 1;
        }
        ++n;
    }
    GGUFWriter w(2);
    w.add("u8", gguf_u8(1)), w.add("i8", gguf_i8(-1)), w.add("u16", gguf_u16(2)), w.add("i16", gguf_i16(-2));
    w.add("u32", gguf_u32(3)), w.add("i32", gguf_i32(-3)), w.add("u64", gguf_u64(4)), w.add("i64", gguf_i64(-4));
    w.add("f32", gguf_f32(0.5f)), w.add("f64", gguf_f64(0.25)), w.add("b", gguf_bool(true)), w.add("s", gguf_string("str"));
    w.add("a", gguf_nested_array({gguf_int_array(GGUFType::U16, {1, 2}), gguf_string_array({"x", "yz"}), gguf_float_array(GGUFType::F32, {1.0})}));
    w.add_tensor("t", {2, 2}, DType::F16);
    if (!w.write(out / "all_types.gguf")) return 1;
    ++n;
    std::printf("wrote %d seeds to %s\n", n, out.c_str());
    return 0;
}

#include "hf/HfTestFiles.h"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "support/TestPaths.h"

namespace vk_symbiote::test {

std::string safetensors_bytes(const std::string& header, const std::string& data) {
    std::string s(8, '\0');
    for (int k = 0; k < 8; ++k) s[size_t(k)] = char(uint64(header.size()) >> (8 * k));
    return s + header + data;
}

void write_file(const Path& p, const std::string& bytes) {
    std::filesystem::create_directories(p.parent_path());
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), std::streamsize(bytes.size()));
    EXPECT_TRUE(f.good()) << p;
}

Path write_tmp_file(const std::string& name, const std::string& bytes) {
    write_file(tmp_dir() / name, bytes);
    return tmp_dir() / name;
}

std::vector<std::string> hf_model_names() { return {"llama31", "qwen2", "qwen3", "gemma2", "phi3", "mixtral"}; }

Path hf_model_dir(const std::string& name) { return models_dir() / "hf" / name; }

std::optional<uint64> process_read_bytes() {
    std::ifstream f("/proc/self/io");
    std::string key;
    uint64 value = 0;
    while (f >> key >> value)
        if (key == "rchar:") return value;
    return std::nullopt;
}

}  // namespace vk_symbiote::test

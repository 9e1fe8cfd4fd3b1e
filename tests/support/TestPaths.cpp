#include "support/TestPaths.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace vk_symbiote::test {

Path shared_dir() {
    if (const char* e = std::getenv("VK_SYMBIOTE_SHARED_DIR")) return e;
    return VKS_SHARED_DIR;
}
Path models_dir() {
    if (const char* e = std::getenv("VK_SYMBIOTE_MODELS_DIR")) return e;
    return shared_dir() / "models";
}
Path reference_dir() { return shared_dir() / "reference"; }
Path tokenizer_tests_dir() { return shared_dir() / "tokenizer-tests"; }

namespace {
struct TmpDir {
    Path path;
    TmpDir() {
        path = Path(VKS_TEST_BINARY_DIR) / "test-tmp" / ("p" + std::to_string(::getpid()));
        std::filesystem::create_directories(path);
    }
    ~TmpDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};
}  // namespace

Path tmp_dir() {
    static TmpDir d;
    return d.path;
}

std::string read_file(const Path& p) {
    std::ifstream f(p, std::ios::binary);
    EXPECT_TRUE(f.good()) << "cannot read " << p;
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace vk_symbiote::test

// Issue 26, defect 7 (second half): Ctrl-C (SIGINT) or SIGTERM during a pack cache build
// and SIGPIPE during vk_symbiote_genmodel left ".tmp" files behind. The programs are
// spawned, signalled while the temporary file exists, and the directory is checked.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "model/ModelGenerator.h"
#include "support/TestPaths.h"

extern char** environ;

using namespace vk_symbiote;
namespace fs = std::filesystem;

namespace {

std::string tool(const char* name) { return (Path(VKS_TEST_BINARY_DIR) / name).string(); }

// Starts argv[0] with stdout and stderr going to `out_fd` (-1: /dev/null).
pid_t spawn(const std::vector<std::string>& args, int out_fd = -1) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out_fd >= 0) {
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
        posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
    } else {
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    }
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    if (posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

std::vector<std::string> tmp_files(const Path& dir) {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp") != std::string::npos) v.push_back(e.path().filename().string());
    return v;
}

// Waits (up to 60 s) until a temporary file with at least `bytes` bytes exists in `dir`.
bool wait_for_tmp(const Path& dir, uint64 bytes, pid_t child) {
    for (int i = 0; i < 60000; ++i) {
        for (const std::string& n : tmp_files(dir)) {
            std::error_code ec;
            if (fs::file_size(dir / n, ec) >= bytes && !ec) return true;
        }
        if (waitpid(child, nullptr, WNOHANG) == child) return false;  // finished (or died) first
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
}

// A random-weight model big enough that writing or packing it takes a while.
Path big_model(const Path& dir) {
    auto shape = model_shape_preset("small");
    EXPECT_TRUE(shape);
    shape->n_layer = 24;
    auto p = generate_model(*shape, DType::F32, dir / "big.gguf", 7);
    EXPECT_TRUE(p) << p.error().to_string();
    return dir / "big.gguf";
}

}  // namespace

TEST(CliSignals, InterruptedPackCacheBuildLeavesNoTemporaryFile) {
    const Path dir = test::tmp_dir() / "signal-pack";
    fs::create_directories(dir);
    const Path model = big_model(dir);
    for (const int sig : {SIGINT, SIGTERM}) {
        SCOPED_TRACE(strsignal(sig));
        const Path cache_dir = dir / ("cache-" + std::to_string(sig));
        fs::create_directories(cache_dir);
        const pid_t pid = spawn({tool("vk_symbiote"), "pack", "--model", model.string(), "--cache-dir", cache_dir.string(), "--threads", "1",
                                 "--max-pack-mb", "1"});
        ASSERT_GT(pid, 0);
        ASSERT_TRUE(wait_for_tmp(cache_dir, 1 << 20, pid)) << "the build ended before it could be interrupted";
        ASSERT_EQ(kill(pid, sig), 0);
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << "status " << status;
        EXPECT_EQ(tmp_files(cache_dir), std::vector<std::string>{});
        EXPECT_FALSE(fs::exists(cache_dir / "big.gguf.vkspack"));
    }
}

// SIGPIPE as `vk_symbiote_genmodel ... 2>&1 | head -1` gets it once head has exited; sent
// here while the model's ".tmp" is being written, so that the timing is the test's.
TEST(CliSignals, GenmodelKilledBySigpipeLeavesNoTemporaryFile) {
    const Path dir = test::tmp_dir() / "signal-genmodel";
    fs::create_directories(dir);
    const pid_t pid = spawn({tool("vk_symbiote_genmodel"), "--shape", "small", "--layers", "64", "--dtype", "f32", "--out", (dir / "m.gguf").string()});
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(wait_for_tmp(dir, 1 << 20, pid)) << "the model was written before it could be interrupted";
    ASSERT_EQ(kill(pid, SIGPIPE), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE) << "status " << status;
    EXPECT_EQ(tmp_files(dir), std::vector<std::string>{});
    EXPECT_FALSE(fs::exists(dir / "m.gguf"));
}

#include "MpiRun.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::test {

bool have_mpirun() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

std::string mpirun(uint32_t ranks) {
    std::string cmd = "env OMPI_MCA_plm=isolated OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo mpirun --oversubscribe";
    if (::geteuid() == 0) cmd += " --allow-run-as-root";
    return cmd + " -np " + std::to_string(ranks) + " ";
}

std::string build_program(const char* name) { return (Path(VKS_TEST_BINARY_DIR) / name).string(); }

CommandResult run_timed(const std::string& cmd, double& seconds) {
    const auto t0 = std::chrono::steady_clock::now();
    CommandResult r = run_command(cmd + " 2>&1");
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

}  // namespace vk_symbiote::test

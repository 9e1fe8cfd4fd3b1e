#include "memory/MemoryStats.h"

#include <fstream>
#include <sstream>
#include <string>

namespace vk_symbiote {

Expected<ProcessMemory> read_process_memory() {
    std::ifstream f("/proc/self/status");
    if (!f) return make_error(ErrorCode::Io, "/proc/self/status: cannot open (resident set size is measured on Linux only)");
    ProcessMemory m;
    bool rss = false, hwm = false;
    std::string line;
    while (std::getline(f, line)) {
        // Lines look like "VmRSS:\t   12345 kB".
        auto parse = [&](const char* key, uint64& out) {
            const std::string k = key;
            if (line.compare(0, k.size(), k) != 0) return false;
            std::istringstream is(line.substr(k.size()));
            uint64 kb = 0;
            is >> kb;
            out = kb * 1024;
            return bool(is);
        };
        rss = parse("VmRSS:", m.rss_bytes) || rss;
        hwm = parse("VmHWM:", m.peak_rss_bytes) || hwm;
        parse("RssFile:", m.rss_file_bytes);  // optional (Linux >= 4.5)
    }
    if (!rss || !hwm) return make_error(ErrorCode::Io, "/proc/self/status: VmRSS / VmHWM fields missing");
    return m;
}

ExpectedVoid reset_peak_rss() {
    std::ofstream f("/proc/self/clear_refs");
    if (!f) return make_error(ErrorCode::Io, "/proc/self/clear_refs: cannot open to reset the peak RSS");
    f << "5";
    f.flush();
    if (!f) return make_error(ErrorCode::Io, "/proc/self/clear_refs: write failed (kernel does not support resetting VmHWM)");
    return {};
}

}  // namespace vk_symbiote

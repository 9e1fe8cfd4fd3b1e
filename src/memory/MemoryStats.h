// MemoryStats: this process's resident set size from /proc/self/status (Linux).
// VmRSS is the current resident set, VmHWM its high-water mark; reset_peak_rss()
// restarts the high-water mark (writes "5" to /proc/self/clear_refs) so a test or a
// benchmark can measure the peak of one phase.
#pragma once

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct ProcessMemory {
    uint64 rss_bytes = 0;       // VmRSS
    uint64 peak_rss_bytes = 0;  // VmHWM
    // RssFile: the part of VmRSS that is file-backed pages (code: the binary, libc, the GPU
    // driver's libraries; 0 where the kernel does not report it). Current value, no peak.
    uint64 rss_file_bytes = 0;
};

// Io error when /proc is missing or the fields are absent (not Linux).
Expected<ProcessMemory> read_process_memory();
ExpectedVoid reset_peak_rss();

}  // namespace vk_symbiote

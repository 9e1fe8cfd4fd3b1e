// ProbeResults: the machine's probed ceilings (src/probe/Probes.h, VulkanProbe.h) and their
// JSON form, shared by the probe cache and vk_symbiote_benchmark's report.
// Units: GB/s = 1e9 bytes per second; TFLOPS = 1e12 operations per second.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::probe {

// One probed ceiling. gbps == 0 with measured == false: not available on this machine
// (note says why, e.g. "no Vulkan device").
struct Bandwidth {
    double gbps = 0;
    bool measured = false;
    std::string method;   // how it was measured, e.g. "O_DIRECT sequential read, 16 MiB blocks"
    uint64 bytes = 0;     // bytes moved by the measurement (one repetition)
    std::string note;     // caveats or why it is missing
};

// One probed compute ceiling (device f16 matmul). tflops == 0 with measured == false: not
// available (note says why).
struct Throughput {
    double tflops = 0;    // 1e12 floating-point operations per second (a fused multiply-add = 2)
    bool measured = false;
    std::string method;
    uint64 flops = 0;     // operations of one repetition
    std::string note;
};

struct ProbeResults {
    std::string machine_key;  // hostname | cpu model | device name (the cache key)
    std::string hostname;
    std::string cpu_model;
    uint32 cpu_threads = 0;
    std::string device_name;  // Vulkan device probed, empty if none
    std::string probed_at;    // UTC, ISO 8601
    bool from_cache = false;
    Bandwidth disk_read;       // sequential read of the model file
    Bandwidth host_memory;     // all-core streaming read of RAM
    Bandwidth host_to_device;  // copy from host-visible (pinned) memory to device-local
    Bandwidth device_to_host;
    Bandwidth device_memory;   // compute-shader read of a large device-local buffer
    Bandwidth device_copy;     // device-local -> device-local vkCmdCopyBuffer, read + write counted
    Throughput device_f16_matmul;  // tiled f16 matmul compute shader (a ceiling for our kernels)
};

nlohmann::json to_json(const Bandwidth& b);
nlohmann::json to_json(const Throughput& t);
nlohmann::json to_json(const ProbeResults& p);
// Inverse of to_json(ProbeResults) for the probe cache. Errors name the missing field.
Expected<ProbeResults> probes_from_json(const nlohmann::json& j);

}  // namespace vk_symbiote::probe

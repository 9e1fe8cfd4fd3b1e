// HardwareTelemetry: the machine's speeds as the oracle knows them, in bytes per second
// (0 = unknown): rates achieved while the engine runs (disk, host->device, CPU and GPU
// weight reads) and the peaks vk_symbiote_benchmark probed, to read the first as a
// fraction of the second. TelemetryMeter has no clock (callers pass bytes and seconds)
// and may be called from any thread.
#pragma once

#include <array>
#include <mutex>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct HardwareTelemetry {
    // Achieved (moving averages of what was measured).
    double disk_read_bps = 0;       // pack bytes read per second (stored bytes with a pack cache)
    double host_to_device_bps = 0;  // bytes copied RAM -> VRAM per second
    double cpu_weight_bps = 0;      // weight bytes per second the CPU computes from RAM
    double gpu_weight_bps = 0;      // weight bytes per second the GPU computes from VRAM
    // Probed peaks.
    double peak_disk_bps = 0;
    double peak_host_to_device_bps = 0;
    double peak_host_memory_bps = 0;
    double peak_device_memory_bps = 0;

    // The disk rate to plan with: achieved when measured, else the probed peak, else 0.
    double disk_bps() const { return disk_read_bps > 0 ? disk_read_bps : peak_disk_bps; }
};

class TelemetryMeter {
public:
    enum class Rate : uint8 { DiskRead = 0, HostToDevice, CpuWeight, GpuWeight };
    static constexpr size_t kRates = 4;

    // Memory of the average, in bytes of traffic: each sample of b bytes keeps
    // exp(-b / kMemoryBytes) of the older bytes and seconds. 256 MiB is about one layer of
    // a 7B f16 model (~400 MB) and 8 default 32 MB packs: the rate follows a change of
    // conditions (page cache warm -> cold, another process on the bus) within about one
    // layer's worth of traffic, while one small read (a 4 KiB test pack, a short copy whose
    // time is mostly fixed latency) barely moves it.
    static constexpr double kMemoryBytes = double(uint64(256) << 20);

    // One measured transfer / computation: `bytes` in `seconds` (> 0; other samples are
    // ignored). The average is the ratio of decayed byte and time sums, i.e. recent total
    // bytes / recent total time: a time-correct rate, unlike a mean of per-sample rates,
    // which would over-weight short fast samples.
    void record(Rate kind, uint64 bytes, double seconds);
    void set_peaks(double disk_bps, double host_to_device_bps, double host_memory_bps, double device_memory_bps);
    HardwareTelemetry snapshot() const;
    // Samples recorded for `kind` (tests, reports).
    uint64 samples(Rate kind) const;

private:
    struct Average {
        double bytes = 0;    // decayed sum of sample bytes
        double seconds = 0;  // decayed sum of sample seconds
        uint64 samples = 0;
        double rate() const { return seconds > 0 ? bytes / seconds : 0.0; }
    };
    mutable std::mutex mu_;
    std::array<Average, kRates> avg_{};
    HardwareTelemetry peaks_;  // only the peak_* fields are used
};

}  // namespace vk_symbiote

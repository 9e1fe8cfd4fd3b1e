#include "oracle/HardwareTelemetry.h"

#include <cmath>

namespace vk_symbiote {

void TelemetryMeter::record(Rate kind, uint64 bytes, double seconds) {
    if (bytes == 0 || !(seconds > 0) || !std::isfinite(seconds)) return;
    std::lock_guard<std::mutex> lk(mu_);
    Average& a = avg_[size_t(kind)];
    const double keep = std::exp(-double(bytes) / kMemoryBytes);
    a.bytes = a.bytes * keep + double(bytes);
    a.seconds = a.seconds * keep + seconds;
    a.samples++;
}

void TelemetryMeter::set_peaks(double disk_bps, double host_to_device_bps, double host_memory_bps, double device_memory_bps) {
    std::lock_guard<std::mutex> lk(mu_);
    peaks_.peak_disk_bps = disk_bps;
    peaks_.peak_host_to_device_bps = host_to_device_bps;
    peaks_.peak_host_memory_bps = host_memory_bps;
    peaks_.peak_device_memory_bps = device_memory_bps;
}

HardwareTelemetry TelemetryMeter::snapshot() const {
    std::lock_guard<std::mutex> lk(mu_);
    HardwareTelemetry t = peaks_;
    t.disk_read_bps = avg_[size_t(Rate::DiskRead)].rate();
    t.host_to_device_bps = avg_[size_t(Rate::HostToDevice)].rate();
    t.cpu_weight_bps = avg_[size_t(Rate::CpuWeight)].rate();
    t.gpu_weight_bps = avg_[size_t(Rate::GpuWeight)].rate();
    return t;
}

uint64 TelemetryMeter::samples(Rate kind) const {
    std::lock_guard<std::mutex> lk(mu_);
    return avg_[size_t(kind)].samples;
}

}  // namespace vk_symbiote

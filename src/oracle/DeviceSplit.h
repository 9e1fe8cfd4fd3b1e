// DeviceSplit: which layers each device of a multi-device placement computes (MultiDeviceBackend).
// Layers go to devices in contiguous ranges, in order (device 0 embeds, the last one has the
// head), each device's share of the weight bytes in proportion to its weight: its VRAM budget
// times its relative speed (1 when not probed). Every device gets at least one layer. Decisions
// only: no devices, no clock.
#pragma once

#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct LayerRange {
    uint32 first = 0;
    uint32 count = 0;
    bool operator==(const LayerRange&) const = default;
};

// layer_bytes: (n_layer) weight bytes of each layer; head_bytes: the output norm and matrix
// (on the last device); device_weights: (n_devices) > 0 each. InvalidArgument when there are
// more devices than layers or a weight is not positive.
Expected<std::vector<LayerRange>> split_layers(const std::vector<uint64>& layer_bytes, uint64 head_bytes,
                                               const std::vector<double>& device_weights);

}  // namespace vk_symbiote

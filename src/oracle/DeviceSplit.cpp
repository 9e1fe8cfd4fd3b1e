#include "oracle/DeviceSplit.h"

#include <numeric>
#include <string>

namespace vk_symbiote {

namespace {

ExpectedVoid check_split_input(size_t n_layer, const std::vector<double>& w) {
    if (w.empty()) return make_error(ErrorCode::InvalidArgument, "layer split: no devices");
    if (w.size() > n_layer)
        return make_error(ErrorCode::InvalidArgument, "layer split: " + std::to_string(w.size()) + " devices for a model of " + std::to_string(n_layer) +
                                                          " layers (each device needs at least one layer)");
    for (size_t d = 0; d < w.size(); ++d)
        if (!(w[d] > 0))
            return make_error(ErrorCode::InvalidArgument, "layer split: device " + std::to_string(d) + " has no budget (weight " + std::to_string(w[d]) + ")");
    return {};
}

}  // namespace

// Device d ends its range where the bytes so far (the head counted at the end) first reach
// its cumulative share of all bytes, leaving at least one layer for each device after it.
Expected<std::vector<LayerRange>> split_layers(const std::vector<uint64>& layer_bytes, uint64 head_bytes,
                                               const std::vector<double>& device_weights) {
    const uint32 L = uint32(layer_bytes.size()), D = uint32(device_weights.size());
    VKS_TRY(check_split_input(L, device_weights));
    const double total = double(std::accumulate(layer_bytes.begin(), layer_bytes.end(), uint64(0)) + head_bytes);
    const double wsum = std::accumulate(device_weights.begin(), device_weights.end(), 0.0);
    std::vector<LayerRange> out(D);
    uint32 l = 0;
    double done = 0, share = 0;
    for (uint32 d = 0; d < D; ++d) {
        share += device_weights[d] / wsum;
        out[d].first = l;
        const uint32 last_allowed = L - (D - 1 - d);  // layers after d's range: one per later device
        if (d + 1 == D) {
            l = L;
        } else {
            do {
                done += double(layer_bytes[l++]);
            } while (l < last_allowed && done + double(layer_bytes[l]) / 2 <= share * total);
        }
        out[d].count = l - out[d].first;
    }
    return out;
}

}  // namespace vk_symbiote

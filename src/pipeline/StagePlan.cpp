#include "pipeline/StagePlan.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace vk_symbiote::pipeline {

namespace {

Error budget_error(const std::string& entry, const std::string& why) {
    return make_error(ErrorCode::InvalidArgument, "--budgets: entry '" + entry + "': " + why + " (expected VRAM_GB:RAM_GB[:SPEED], e.g. 4:16,8:32)");
}

// One number of an entry: finite and >= 0 (speed: > 0).
Expected<double> parse_field(const std::string& entry, const std::string& field, const char* what, bool positive) {
    char* end = nullptr;
    const double v = std::strtod(field.c_str(), &end);
    if (field.empty() || end != field.c_str() + field.size() || !std::isfinite(v) || v < 0 || (positive && v == 0))
        return budget_error(entry, std::string(what) + " '" + field + "' is not a " + (positive ? "positive" : "non-negative") + " number");
    return v;
}

Expected<RankBudget> parse_entry(const std::string& entry) {
    std::vector<std::string> fields;
    std::stringstream ss(entry);
    for (std::string f; std::getline(ss, f, ':');) fields.push_back(f);
    if (fields.size() < 2 || fields.size() > 3) return budget_error(entry, "needs two or three fields");
    RankBudget b;
    auto v = parse_field(entry, fields[0], "VRAM", false);
    if (!v) return v.error();
    b.vram_gb = *v;
    auto r = parse_field(entry, fields[1], "RAM", false);
    if (!r) return r.error();
    b.ram_gb = *r;
    if (fields.size() == 3) {
        auto s = parse_field(entry, fields[2], "speed", true);
        if (!s) return s.error();
        b.speed = *s;
    }
    return b;
}

}  // namespace

Expected<std::vector<RankBudget>> parse_budgets(const std::string& text) {
    std::vector<RankBudget> out;
    std::stringstream ss(text);
    for (std::string entry; std::getline(ss, entry, ',');) {
        auto b = parse_entry(entry);
        if (!b) return b.error();
        out.push_back(*b);
    }
    if (out.empty()) return budget_error(text, "no entries");
    return out;
}

Expected<std::vector<LayerRange>> plan_stages(uint32 n_layer, const std::vector<RankBudget>& budgets) {
    const uint32 n = uint32(budgets.size());
    if (n == 0 || n > n_layer)
        return make_error(ErrorCode::InvalidArgument, "pipeline: " + std::to_string(n) + " ranks for " + std::to_string(n_layer) +
                                                          " layers (each rank holds at least one layer)");
    double total = 0;
    for (const RankBudget& b : budgets) total += b.weight();
    if (!(total > 0)) return make_error(ErrorCode::InvalidArgument, "pipeline: every rank's budget is 0: no rank can hold a layer");
    // Rank r ends at round(n_layer x (weights of ranks 0..r) / total), kept between one layer
    // past the previous end and one layer per later rank before n_layer.
    std::vector<LayerRange> out(n);
    double cum = 0;
    uint32 prev = 0;
    for (uint32 r = 0; r < n; ++r) {
        cum += budgets[r].weight();
        uint32 end = r + 1 == n ? n_layer : uint32(std::llround(double(n_layer) * cum / total));
        end = std::max(end, prev + 1);
        end = std::min(end, n_layer - (n - 1 - r));
        out[r] = {prev, end};
        prev = end;
    }
    return out;
}

}  // namespace vk_symbiote::pipeline

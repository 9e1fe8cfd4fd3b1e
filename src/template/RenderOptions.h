// What one render may do (limits against hostile templates: they come from model files and,
// later, from HTTP clients) and the clock strftime_now() reads.
#pragma once

#include <ctime>
#include <optional>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::jinja {

struct RenderOptions {
    // Most bytes of output, and of any one string or list built while rendering.
    size_t max_output_bytes = size_t(16) << 20;
    // Most evaluation steps (one per statement, expression node and loop iteration, more for
    // work on long strings and lists): bounds the time of loops over huge ranges. A chat
    // template takes about 50 steps per message.
    uint64 max_steps = 5'000'000;
    // Most nested evaluation frames (statements in statements, expressions in expressions,
    // macro calls): bounds the native stack.
    uint32 max_depth = 500;
    // The time strftime_now() formats; unset: the local time when it is called.
    std::optional<std::tm> now;
};

// A broken-down time for RenderOptions::now, weekday and day of the year filled in.
std::tm civil_time(int year, int month, int day, int hour = 0, int minute = 0, int second = 0);

}  // namespace vk_symbiote::jinja

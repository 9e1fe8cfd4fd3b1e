// EnvKnob: the environment A/B knobs (VK_SYMBIOTE_*, listed in the README) that measurements
// use to compare a setting against the default without rebuilding. A knob that is unset or
// empty leaves the default; any other value must be well formed, or the engine refuses to
// start with an error naming the variable and its value (never a silent default).
#pragma once

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// A whole number in [lo, hi]: out = its value; else InvalidArgument
// "NAME=value: expected <what> in [lo, hi]".
ExpectedVoid env_whole_number(const char* name, int64 lo, int64 hi, const char* what, int64& out);

}  // namespace vk_symbiote

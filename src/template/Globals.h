// The global functions of Hugging Face's chat-template environment: Jinja2's range, dict and
// namespace, and Hugging Face's raise_exception(message) (the render fails with the message)
// and strftime_now(format) (the time in RenderOptions::now, or the local time, formatted like
// Python's strftime in the C locale: English month and day names).
#pragma once

#include "template/Scope.h"

namespace vk_symbiote::jinja {

void define_globals(Scope& scope);

}  // namespace vk_symbiote::jinja

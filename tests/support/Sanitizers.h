// Whether this test binary runs under AddressSanitizer (the asan preset). Its RSS then
// includes ASan's shadow memory and the quarantine of freed blocks (256 MiB by default), so
// the RAM budget checks (peak RSS growth against --ram-gb) do not apply there; everything
// else they check still does.
#pragma once

namespace vk_symbiote::test {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

}  // namespace vk_symbiote::test

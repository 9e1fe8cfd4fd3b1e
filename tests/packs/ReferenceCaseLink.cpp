// tests/reference/ReferenceCase.cpp compiled into test_packs too: each test folder is
// its own executable and the reference loader is not part of tests/support (yet).
#include "reference/ReferenceCase.cpp"

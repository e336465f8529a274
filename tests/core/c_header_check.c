/* sam.h must compile as plain C99 (no C++ types leak out) and the config
 * initializer must work in C. Compiled as part of test_core; the call below
 * runs from test_c_header.cc. */
#include "sam.h"

int samTestCHeaderConfigOk(void) {
  samConfig_t cfg = SAM_CONFIG_INITIALIZER;
  return cfg.size == sizeof(samConfig_t) && cfg.magic == SAM_CONFIG_MAGIC &&
         cfg.version == SAM_VERSION_CODE && cfg.timeoutMs == SAM_CONFIG_UNDEF_INT;
}

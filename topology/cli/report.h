// What sam-topo prints, written against the public C API only (sam.h): if
// the CLI can say it, a user of libsam can get it too.
#pragma once

#include <cstdio>
#include <string>

#include "sam.h"

namespace samtopo {

// Each returns samSuccess or the first failing call's result (its last
// error is left for the caller to print).
samResult_t printText(FILE* out, samTopology_t topo, const std::string& source);
samResult_t printJson(FILE* out, samTopology_t topo);
samResult_t printConfig(FILE* out);

}  // namespace samtopo

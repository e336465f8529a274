// The registry of SAM_* environment knobs (declared in params.def).
#pragma once

#include <cstdint>
#include <string>

namespace sam {

// The value of knob `name`: the environment if set (and non-empty), else the
// default from params.def. Asking for an undeclared knob is a bug (throws).
std::string paramString(const char* name);
// The same, parsed as an integer; a malformed value throws sam::Error naming it.
int64_t paramInt(const char* name);
// True if the environment sets the knob.
bool paramIsSet(const char* name);

}  // namespace sam

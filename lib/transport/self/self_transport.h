// A rank's exchange with itself: a memcpy, counted as samTransportSelf so the
// counters add up to the whole exchange.
#pragma once

#include <memory>

#include "transport/transport.h"

namespace sam {

std::unique_ptr<Transport> createSelfTransport(int rank);

}  // namespace sam

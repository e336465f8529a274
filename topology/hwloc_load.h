// Loading and saving hwloc topologies, with errors that name the source and
// the reason (hwloc itself only says "Invalid argument").
#pragma once

#include <string>

#include "topology/topology.h"

namespace sam {
namespace topo {

// Every loader keeps all I/O objects (PCI devices, bridges, OS devices): the
// link classes need the PCI tree, and the NICs and GPUs are I/O objects.
HwlocPtr hwlocLoadLive();
// Reads the file first so that a missing, empty, garbage or truncated file
// gets its own message; throws sam::Error (samSystemError for I/O failures,
// samInvalidArgument for bad contents).
HwlocPtr hwlocLoadXmlFile(const std::string& path);
HwlocPtr hwlocLoadSynthetic(const std::string& description);
// hwloc_topology_export_xml, throwing samSystemError naming the path.
void hwlocSaveXml(hwloc_topology_t hw, const std::string& path);

}  // namespace topo
}  // namespace sam

#include "topology/hwloc_load.h"

#include <hwloc/export.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace sam {
namespace topo {
namespace {

// An hwloc XML topology is a few hundred kB; refuse absurd inputs instead of
// reading them into memory.
constexpr size_t kMaxXmlBytes = size_t(256) << 20;

HwlocPtr newTopology(const char* what) {
  hwloc_topology_t t = nullptr;
  if (hwloc_topology_init(&t) != 0)
    throwError(samSystemError, std::string(what) + ": hwloc_topology_init failed: " + strerror(errno));
  HwlocPtr owned(t);
  // KEEP_ALL rather than KEEP_IMPORTANT: bridges decide PIX/PXB/PHB, and an
  // XML file must come back with every I/O object it was saved with.
  hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_ALL);
  return owned;
}

void load(const HwlocPtr& t, const std::string& what) {
  if (hwloc_topology_load(t.get()) != 0)
    throwError(samSystemError, what + ": hwloc_topology_load failed: " + strerror(errno));
}

std::string readFile(const std::string& path) {
  const std::string who = "hwloc XML file '" + path + "'";
  FILE* f = fopen(path.c_str(), "rb");
  if (f == nullptr) throwError(samSystemError, "cannot open " + who + ": " + strerror(errno));
  std::string data;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
    data.append(buf, n);
    if (data.size() > kMaxXmlBytes) {
      fclose(f);
      throwError(samInvalidArgument, who + " is larger than 256 MiB: not a topology");
    }
  }
  int readErrno = ferror(f) ? errno : 0;
  fclose(f);
  if (readErrno != 0) throwError(samSystemError, "cannot read " + who + ": " + strerror(readErrno));
  return data;
}

}  // namespace

HwlocPtr hwlocLoadLive() {
  HwlocPtr t = newTopology("this machine");
  load(t, "this machine");
  return t;
}

HwlocPtr hwlocLoadXmlFile(const std::string& path) {
  const std::string who = "hwloc XML file '" + path + "'";
  std::string xml = readFile(path);
  if (xml.find_first_not_of(" \t\r\n") == std::string::npos)
    throwError(samInvalidArgument, who + " is empty");
  // Tell the common failures apart before hwloc, which only says EINVAL.
  if (xml.find("<topology") == std::string::npos)
    throwError(samInvalidArgument, who + " is not an hwloc XML topology (no <topology> element)");
  if (xml.find("</topology>") == std::string::npos)
    throwError(samInvalidArgument, who + " is truncated (no closing </topology>)");
  HwlocPtr t = newTopology(path.c_str());
  if (hwloc_topology_set_xmlbuffer(t.get(), xml.c_str(), int(xml.size() + 1)) != 0)
    throwError(samInvalidArgument, who + " is malformed: hwloc could not parse it");
  if (hwloc_topology_load(t.get()) != 0)
    throwError(samInvalidArgument, who + " is malformed: hwloc could not load it (" + strerror(errno) + ")");
  return t;
}

HwlocPtr hwlocLoadSynthetic(const std::string& description) {
  const std::string who = "synthetic topology '" + description + "'";
  HwlocPtr t = newTopology(who.c_str());
  if (hwloc_topology_set_synthetic(t.get(), description.c_str()) != 0)
    throwError(samInvalidArgument, who + " is not a valid hwloc synthetic description");
  load(t, who);
  return t;
}

void hwlocSaveXml(hwloc_topology_t hw, const std::string& path) {
  errno = 0;
  if (hwloc_topology_export_xml(hw, path.c_str(), 0) != 0)
    throwError(samSystemError, "cannot write hwloc XML file '" + path + "': " +
                                   (errno != 0 ? strerror(errno) : "hwloc export failed"));
}

}  // namespace topo
}  // namespace sam

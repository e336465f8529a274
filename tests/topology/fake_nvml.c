/* A stand-in for libnvidia-ml.so.1, so the NVML path of discovery runs on a
 * machine without a driver: two "H200"s at fffe:01:00.0 and fffe:02:00.0
 * (a PCI domain no real machine uses), each with 18 active NVLinks, all to
 * an NVSwitch, as on an HGX board. FAKE_NVML_INIT_FAIL=1 makes nvmlInit
 * fail. Only the entry points libsam looks up are here. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st* nvmlDevice_t;
typedef struct {
  char busIdLegacy[16];
  unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
  char busId[32];
} nvmlPciInfo_t;

enum { kSuccess = 0, kUninitialized = 1, kInvalidArgument = 2 };
enum { kGpus = 2, kLinks = 18 };

static int gInit = 0;

static int index_of(nvmlDevice_t d) {
  intptr_t i = (intptr_t)d - 1;
  return (i >= 0 && i < kGpus) ? (int)i : -1;
}

static void fill_pci(nvmlPciInfo_t* p, unsigned bus, unsigned id) {
  memset(p, 0, sizeof(*p));
  p->domain = 0xfffe;
  p->bus = bus;
  p->pciDeviceId = id;
  snprintf(p->busId, sizeof(p->busId), "0000FFFE:%02X:00.0", bus);
  snprintf(p->busIdLegacy, sizeof(p->busIdLegacy), "FFFE:%02X:00.0", bus);
}

nvmlReturn_t nvmlInit_v2(void) {
  const char* f = getenv("FAKE_NVML_INIT_FAIL");
  if (f && *f == '1') return kUninitialized;
  gInit = 1;
  return kSuccess;
}
nvmlReturn_t nvmlShutdown(void) {
  gInit = 0;
  return kSuccess;
}
const char* nvmlErrorString(nvmlReturn_t r) { return r == kSuccess ? "Success" : "Fake error"; }
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* n) {
  if (!gInit) return kUninitialized;
  *n = kGpus;
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t* d) {
  if (!gInit || i >= kGpus) return kInvalidArgument;
  *d = (nvmlDevice_t)(intptr_t)(i + 1);
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char* buf, unsigned int len) {
  if (index_of(d) < 0) return kInvalidArgument;
  snprintf(buf, len, "NVIDIA H200");
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char* buf, unsigned int len) {
  int i = index_of(d);
  if (i < 0) return kInvalidArgument;
  snprintf(buf, len, "GPU-fake-%d", i);
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t* p) {
  int i = index_of(d);
  if (i < 0) return kInvalidArgument;
  fill_pci(p, 1 + (unsigned)i, 0x233510de);
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t d, unsigned int link, int* active) {
  if (index_of(d) < 0 || link >= kLinks) return kInvalidArgument;
  *active = 1;
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t d, unsigned int link, nvmlPciInfo_t* p) {
  if (index_of(d) < 0 || link >= kLinks) return kInvalidArgument;
  fill_pci(p, 0x80, 0x22a310de); /* the NVSwitch */
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetNvLinkRemoteDeviceType(nvmlDevice_t d, unsigned int link, unsigned int* type) {
  if (index_of(d) < 0 || link >= kLinks) return kInvalidArgument;
  *type = 2; /* NVML_NVLINK_DEVICE_TYPE_SWITCH */
  return kSuccess;
}
nvmlReturn_t nvmlDeviceGetNvLinkVersion(nvmlDevice_t d, unsigned int link, unsigned int* version) {
  if (index_of(d) < 0 || link >= kLinks) return kInvalidArgument;
  *version = 4;
  return kSuccess;
}

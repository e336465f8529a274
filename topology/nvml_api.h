// The few NVML and CUDA driver declarations gpu_probe.cc uses. Both libraries
// are dlopen'ed at run time (never linked), so libsam runs where there is no
// NVIDIA driver; we declare only what we call, with the layouts of nvml.h
// (nvmlPciInfo_t as taken by the _v3/_v2 entry points) and cuda.h.
#pragma once

namespace sam {
namespace topo {
namespace nvml {

typedef int Return;  // nvmlReturn_t
constexpr Return kSuccess = 0;
typedef struct nvmlDevice_st* Device;  // nvmlDevice_t

struct PciInfo {  // nvmlPciInfo_t
  char busIdLegacy[16];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pciDeviceId;  // (device id << 16) | vendor id
  unsigned int pciSubSystemId;
  char busId[32];
};

constexpr int kEnableStateEnabled = 1;      // NVML_FEATURE_ENABLED
constexpr unsigned kDeviceTypeGpu = 0x00;   // NVML_NVLINK_DEVICE_TYPE_GPU
constexpr unsigned kDeviceTypeIbmNpu = 0x01;
constexpr unsigned kDeviceTypeSwitch = 0x02;
constexpr unsigned kNameBufferSize = 96;    // NVML_DEVICE_NAME_V2_BUFFER_SIZE
constexpr unsigned kUuidBufferSize = 96;    // >= NVML_DEVICE_UUID_V2_BUFFER_SIZE (96)
// NVML_NVLINK_MAX_LINKS is 18 today; we probe further and stop at the first
// link index NVML rejects, so a newer driver with more links still counts.
constexpr unsigned kMaxLinksProbed = 64;

typedef Return (*InitFn)(void);                           // nvmlInit_v2
typedef Return (*ShutdownFn)(void);                       // nvmlShutdown
typedef Return (*GetCountFn)(unsigned int*);              // nvmlDeviceGetCount_v2
typedef Return (*GetHandleByIndexFn)(unsigned int, Device*);  // nvmlDeviceGetHandleByIndex_v2
typedef Return (*GetNameFn)(Device, char*, unsigned int);     // nvmlDeviceGetName
typedef Return (*GetUuidFn)(Device, char*, unsigned int);     // nvmlDeviceGetUUID
typedef Return (*GetPciInfoFn)(Device, PciInfo*);             // nvmlDeviceGetPciInfo_v3
typedef Return (*GetNvLinkStateFn)(Device, unsigned int, int*);  // nvmlDeviceGetNvLinkState
typedef Return (*GetNvLinkRemotePciInfoFn)(Device, unsigned int, PciInfo*);  // ..._v2
typedef Return (*GetNvLinkRemoteDeviceTypeFn)(Device, unsigned int, unsigned int*);
typedef Return (*GetNvLinkVersionFn)(Device, unsigned int, unsigned int*);
typedef const char* (*ErrorStringFn)(Return);

}  // namespace nvml

namespace cu {

typedef int Result;  // CUresult
constexpr Result kSuccess = 0;
typedef int Device;  // CUdevice

typedef Result (*InitFn)(unsigned int);                     // cuInit
typedef Result (*DeviceGetCountFn)(int*);                   // cuDeviceGetCount
typedef Result (*DeviceGetFn)(Device*, int);                // cuDeviceGet
typedef Result (*DeviceGetPciBusIdFn)(char*, int, Device);  // cuDeviceGetPCIBusId

}  // namespace cu
}  // namespace topo
}  // namespace sam

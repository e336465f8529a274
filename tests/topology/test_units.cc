// Small pieces: NVLink counting, bus id normalisation, the bandwidth table,
// JSON string escaping.
#include <gtest/gtest.h>

#include "topology/cli/json_writer.h"
#include "topology/gpu_probe.h"
#include "topology/link_cost.h"
#include "topology/nvlink.h"

using namespace sam::topo;

TEST(TopologyUnits, NvlinksFromBandwidth) {
  EXPECT_EQ(nvlinksFromBandwidth(0), 0);
  EXPECT_EQ(nvlinksFromBandwidth(40000), 2);    // POWER8 P100: NVLink 1
  EXPECT_EQ(nvlinksFromBandwidth(20000), 1);
  EXPECT_EQ(nvlinksFromBandwidth(450000), 18);  // H100/H200
  EXPECT_EQ(nvlinksFromBandwidth(150000), 6);   // V100
  EXPECT_EQ(nvlinksFromBandwidth(25000), 1);
  EXPECT_EQ(nvlinksFromBandwidth(12345), 0);    // unknown rate: "NVL"
}

TEST(TopologyUnits, NormaliseBusId) {
  EXPECT_EQ(normaliseBusId("00000000:84:00.0"), "0000:84:00.0");
  EXPECT_EQ(normaliseBusId("0000:1B:00.0"), "0000:1b:00.0");
  EXPECT_EQ(normaliseBusId("0002:01:00.1"), "0002:01:00.1");
  EXPECT_EQ(normaliseBusId("84:00.0"), "");
  EXPECT_EQ(normaliseBusId("0000:84:00.0x"), "");
  EXPECT_EQ(normaliseBusId("0000:84:40.0"), "");  // device > 31
  EXPECT_EQ(normaliseBusId(""), "");
}

TEST(TopologyUnits, ProbePairs) {
  GpuProbe p;
  p.gpus.resize(3);
  p.directLinks = {0, 2, 0,  //
                   2, 0, 0,  //
                   0, 0, 0};
  p.switchLinks = {6, 4, 0};
  p.perLinkMBps = {kNvlinkMBps, kNvlinkMBps, kNvlinkMBps};
  EXPECT_EQ(p.pairLinks(0, 1), 6);  // 2 direct + min(6, 4) switched
  EXPECT_EQ(p.pairMBps(0, 1), 6 * kNvlinkMBps);
  EXPECT_EQ(p.pairLinks(0, 2), 0);
  EXPECT_EQ(p.pairMBps(1, 1), 0u);
  EXPECT_EQ(p.pairMBps(0, 7), 0u);  // out of range: no link
}

TEST(TopologyUnits, BandwidthTable) {
  EXPECT_DOUBLE_EQ(estimateBandwidthGBps(samLinkSelf, 0, 0), 0.0);
  EXPECT_DOUBLE_EQ(estimateBandwidthGBps(samLinkNvl, 450000, 0), 450.0);
  EXPECT_DOUBLE_EQ(estimateBandwidthGBps(samLinkPix, 0, 0), kPcieDefaultGBps);
  EXPECT_DOUBLE_EQ(estimateBandwidthGBps(samLinkPxb, 0, 31.5), 31.5);
  EXPECT_DOUBLE_EQ(estimateBandwidthGBps(samLinkPhb, 0, 0), 20.0);
  EXPECT_DOUBLE_EQ(estimateBandwidthGBps(samLinkPhb, 0, 7.9), 7.9);
  EXPECT_DOUBLE_EQ(estimateBandwidthGBps(samLinkNode, 0, 0), 16.0);
  EXPECT_DOUBLE_EQ(estimateBandwidthGBps(samLinkSys, 0, 63.0), 10.0);
}

TEST(TopologyUnits, JsonEscape) {
  using samtopo::JsonWriter;
  EXPECT_EQ(JsonWriter::escape("plain"), "plain");
  EXPECT_EQ(JsonWriter::escape("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(JsonWriter::escape("l1\nl2\t\r"), "l1\\nl2\\t\\r");
  EXPECT_EQ(JsonWriter::escape(std::string("\x01\x1f", 2)), "\\u0001\\u001f");
  EXPECT_EQ(JsonWriter::escape("H200 \xc2\xb5"), "H200 \xc2\xb5");  // UTF-8 kept
}

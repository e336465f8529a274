// Bad XML files: each fails with a last error that names the file and says
// what is wrong, writes nothing to the out-parameter, and never crashes.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "tests/topology/topo_helpers.h"

using namespace samtest;

namespace {

std::string readAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void writeAll(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

// Loads `path` expecting `code`, an error naming the file and containing
// `reason`, and the out-parameter untouched.
void expectLoadFails(const std::string& path, samResult_t code, const std::string& reason) {
  SCOPED_TRACE(path);
  samTopology_t poison = reinterpret_cast<samTopology_t>(0x5a5a5a5a);
  samTopology_t t = poison;
  EXPECT_EQ(samTopologyLoadXml(path.c_str(), &t), code);
  EXPECT_EQ(t, poison);
  std::string err = samGetLastError();
  EXPECT_NE(err.find("'" + path + "'"), std::string::npos) << err;
  EXPECT_NE(err.find(reason), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << "one line: " << err;
}

}  // namespace

TEST(TopologyXmlErrors, MissingFile) {
  expectLoadFails(tempPath("does-not-exist.xml"), samSystemError, "No such file or directory");
}

TEST(TopologyXmlErrors, Directory) { expectLoadFails(SAM_TEST_DATA_DIR, samSystemError, "Is a directory"); }

TEST(TopologyXmlErrors, Unreadable) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  std::string path = tempPath("unreadable.xml");
  writeAll(path, readAll(dataFile("power8-4gpu-nvlink.xml")));
  chmod(path.c_str(), 0);
  expectLoadFails(path, samSystemError, "Permission denied");
  unlink(path.c_str());
}

TEST(TopologyXmlErrors, EmptyAndBlank) {
  std::string path = tempPath("empty.xml");
  writeAll(path, "");
  expectLoadFails(path, samInvalidArgument, "is empty");
  writeAll(path, " \n\t\n");
  expectLoadFails(path, samInvalidArgument, "is empty");
  unlink(path.c_str());
}

TEST(TopologyXmlErrors, Garbage) {
  std::string path = tempPath("garbage.xml");
  std::mt19937 rng(std::random_device{}());
  std::string junk(4096, '\0');
  for (char& c : junk) c = char(rng() & 0xff);
  junk[0] = 'x';  // not blank
  writeAll(path, junk);
  expectLoadFails(path, samInvalidArgument, "not an hwloc XML topology");
  writeAll(path, "<?xml version=\"1.0\"?>\n<html><body>hello</body></html>\n");
  expectLoadFails(path, samInvalidArgument, "not an hwloc XML topology");
  unlink(path.c_str());
}

TEST(TopologyXmlErrors, TruncatedAtRandomPlaces) {
  const std::string full = readAll(dataFile("2numa-3gpu-ib.xml"));
  ASSERT_GT(full.size(), 1000u);
  const size_t closing = full.rfind("</topology>");
  ASSERT_NE(closing, std::string::npos);
  std::string path = tempPath("truncated.xml");
  std::mt19937 rng(std::random_device{}());
  const size_t start = full.find("<topology");
  std::uniform_int_distribution<size_t> cut(start + strlen("<topology"), closing);
  for (int trial = 0; trial < 10; ++trial) {
    size_t n = cut(rng);
    SCOPED_TRACE("cut at " + std::to_string(n));
    writeAll(path, full.substr(0, n));
    expectLoadFails(path, samInvalidArgument, "truncated");
  }
  unlink(path.c_str());
}

TEST(TopologyXmlErrors, MalformedInside) {
  std::string path = tempPath("malformed.xml");
  writeAll(path, "<?xml version=\"1.0\"?>\n<topology version=\"2.0\"><object type=\"Machine\" <<<>></topology>\n");
  expectLoadFails(path, samInvalidArgument, "malformed");
  // Well-formed XML but no machine in it.
  writeAll(path, "<?xml version=\"1.0\"?>\n<topology version=\"2.0\"><nothing/></topology>\n");
  expectLoadFails(path, samInvalidArgument, "malformed");
  unlink(path.c_str());
}

TEST(TopologyXmlErrors, SaveToAMissingDirectory) {
  Topo t(loadOrFail(dataFile("power8-4gpu-nvlink.xml")));
  std::string path = tempPath("no-such-dir") + "/x.xml";
  EXPECT_EQ(samTopologySaveXml(t.get(), path.c_str()), samSystemError);
  std::string err = samGetLastError();
  EXPECT_NE(err.find(path), std::string::npos) << err;
}

TEST(TopologyXmlErrors, NextLoadStillWorks) {
  samTopology_t t = nullptr;
  EXPECT_NE(samTopologyLoadXml(tempPath("nope.xml").c_str(), &t), samSuccess);
  Topo ok(loadOrFail(dataFile("power8-4gpu-nvlink.xml")));
  EXPECT_EQ(count(ok.get(), samTopoGpus), 4);
  EXPECT_STREQ(samGetLastError(), "");
}

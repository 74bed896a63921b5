// Reporters: every format renders the same rows; CSV quotes per RFC 4180.
#include <gtest/gtest.h>

#include <sstream>

#include "infercast/base/error.hpp"
#include "infercast/report/report.hpp"

namespace infercast::report {
namespace {

Report sample() {
  Report r;
  Table t{"Layers",
          {{"name", "name", Unit::kNone}, {"macs", "MACs", Unit::kCount}, {"bytes", "bytes", Unit::kBytes}},
          {},
          true};
  t.rows.push_back({{"name", "conv, \"first\""}, {"macs", 1814073344}, {"bytes", 1536}});
  t.rows.push_back({{"name", "fc"}, {"macs", 512000}, {"bytes", 10}});
  r.json["layers"] = t.rows;
  r.tables.push_back(std::move(t));
  return r;
}

TEST(Report, CsvHasExactNumbersAndQuotes) {
  const std::string csv = render(sample(), Format::kCsv);
  std::istringstream lines(csv);
  std::string header, first, second;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_EQ(header, "name,macs,bytes");
  EXPECT_EQ(first, "\"conv, \"\"first\"\"\",1814073344,1536");
  EXPECT_EQ(second, "fc,512000,10");
}

TEST(Report, TableUsesEngineeringUnitsAndHidesDetailUnlessAsked) {
  EXPECT_EQ(render(sample(), Format::kTable), "");
  const std::string table = render(sample(), Format::kTable, {true});
  EXPECT_NE(table.find("1.81 G"), std::string::npos) << table;
  EXPECT_NE(table.find("1.50 KiB"), std::string::npos) << table;
  EXPECT_NE(table.find("10 B"), std::string::npos) << table;
}

TEST(Report, JsonIsTheDocument) {
  const auto parsed = nlohmann::json::parse(render(sample(), Format::kJson));
  EXPECT_EQ(parsed["layers"][0]["macs"], 1814073344);
}

TEST(Report, HumanUnits) {
  EXPECT_EQ(human_count(999), "999");
  EXPECT_EQ(human_count(11680872), "11.68 M");
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(46723488), "44.56 MiB");
}

TEST(Report, UnknownFormatIsAnError) {
  EXPECT_THROW(parse_format("xml"), Error);
}

}  // namespace
}  // namespace infercast::report

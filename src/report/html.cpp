// The HTML reporter. The page (report.html), its script (report.js) and the two
// libraries it draws with are embedded in the binary at build time (html_assets.S via
// the assembler's .incbin: no generated source, no size limit on literals), so
// build/infercast writes a self-contained report with nothing installed beside it.
#include <string>
#include <string_view>

#include "infercast/base/error.hpp"
#include "infercast/report/report.hpp"

#if INFERCAST_REPORT_JS
extern "C" {
extern const char infercast_report_html_begin[], infercast_report_html_end[];
extern const char infercast_report_js_begin[], infercast_report_js_end[];
extern const char infercast_chart_js_begin[], infercast_chart_js_end[];
extern const char infercast_dagre_js_begin[], infercast_dagre_js_end[];
}
#endif

namespace infercast::report {
namespace {

// Text that goes inside a <script> element: "</" would end it early.
std::string script_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 64);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '<' && i + 1 < text.size() && text[i + 1] == '/') {
      out += "<\\/";
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

void replace_once(std::string& text, std::string_view marker, const std::string& with) {
  const auto at = text.find(marker);
  if (at != std::string::npos) text.replace(at, marker.size(), with);
}

}  // namespace

bool html_available() {
  return INFERCAST_REPORT_JS != 0;
}

std::string render_html(const nlohmann::json& document) {
  const bool model = document.value("kind", std::string()) == "model";
  const bool validation = document.contains("models") && document.contains("summary");
  if (!model && !validation) {
    throw Error(ErrorKind::kInvalidArgument, "", "--format html",
                "HTML draws a model's report (analyze, predict, report) or a validation; use json for this one");
  }
#if INFERCAST_REPORT_JS
  auto view = [](const char* begin, const char* end) {
    return std::string_view(begin, static_cast<std::size_t>(end - begin));
  };
  std::string page(view(infercast_report_html_begin, infercast_report_html_end));
  // The data first: the libraries and the script could contain the markers' text.
  replace_once(page, "/*@DATA@*/",
               script_safe(document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  replace_once(page, "/*@APP@*/", script_safe(view(infercast_report_js_begin, infercast_report_js_end)));
  replace_once(page, "/*@DAGRE@*/", script_safe(view(infercast_dagre_js_begin, infercast_dagre_js_end)));
  replace_once(page, "/*@CHART@*/", script_safe(view(infercast_chart_js_begin, infercast_chart_js_end)));
  return page;
#else
  (void)document;
  throw Error(ErrorKind::kUnsupported, "", "--format html",
              "this infercast was built without the report's JavaScript libraries: run scripts/install_report_js.sh, "
              "then configure and build again");
#endif
}

}  // namespace infercast::report

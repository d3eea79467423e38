#include "tools/attention_svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "tools/metrics.h"

namespace attend {
namespace {

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
          out += "?";
        } else {
          out += c;
        }
    }
  }
  return out;
}

int64_t display_width(const std::string& s) { return int64_t(metrics::utf8_to_u32(s).size()); }

}  // namespace

std::string attention_svg(const std::vector<std::string>& source, const std::vector<std::string>& target,
                          const std::vector<float>& weights, const std::string& caption) {
  const int64_t S = int64_t(source.size()), T = int64_t(target.size());
  CHECK(int64_t(weights.size()) == S * T, "attention_svg: {} weights for {} target x {} source pieces",
        weights.size(), T, S);
  constexpr int64_t kCell = 24, kChar = 8, kPad = 10;
  int64_t left = 0, label = 0;
  for (const auto& t : target) left = std::max(left, display_width(t));
  for (const auto& s : source) label = std::max(label, display_width(s));
  left = left * kChar + kPad * 2;
  // Source labels are turned 60 degrees up: sin 60 of their length above the grid, cos 60
  // to the right; the caption goes above them.
  const int64_t top = int64_t(double(label * kChar) * 0.87) + kPad * 2 + 24;
  const int64_t width = std::max<int64_t>(left + S * kCell + label * kChar / 2 + kPad,
                                          display_width(caption) * 7 + 60 + 2 * kPad);
  const int64_t height = top + T * kCell + kPad;
  float peak = 0;
  for (float w : weights) peak = std::max(peak, w);
  const float scale = peak > 0 ? 1.0f / peak : 0.0f;

  std::string svg = fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"monospace\" font-size=\"13\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"18\" font-size=\"12\" fill=\"#333\">{3} (darkest = {4:.3f})</text>\n",
      width, height, kPad, xml_escape(caption), peak);
  for (int64_t s = 0; s < S; ++s) {
    const int64_t x = left + s * kCell + kCell / 2, y = top - 6;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" transform=\"rotate(-60 {} {})\">{}</text>\n", x, y, x, y,
                       xml_escape(source[size_t(s)]));
  }
  for (int64_t t = 0; t < T; ++t) {
    const int64_t y = top + t * kCell;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", left - 6, y + kCell / 2 + 4,
                       xml_escape(target[size_t(t)]));
    for (int64_t s = 0; s < S; ++s) {
      const float w = weights[size_t(t * S + s)];
      const float v = std::clamp(w * scale, 0.0f, 1.0f);
      // White to dark blue (#08306b).
      const int r = int(std::lround(255 - v * (255 - 8))), g = int(std::lround(255 - v * (255 - 48))),
                b = int(std::lround(255 - v * (255 - 107)));
      svg += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#{:02x}{:02x}{:02x}\" stroke=\"#eee\">"
          "<title>{} -&gt; {}: {:.3f}</title></rect>\n",
          left + s * kCell, y, kCell, kCell, r, g, b, xml_escape(source[size_t(s)]), xml_escape(target[size_t(t)]),
          w);
    }
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace attend

// A self-contained SVG heatmap of an attention matrix, for `attend translate --attention-svg`:
// source pieces along the top, target pieces down the left, one square per weight, darker =
// more attention (scaled to the matrix's largest weight, which the caption gives). Hovering
// a square shows "source -> target: weight". Opens in any browser; no scripts, no fonts.
//
//   std::string svg = attention_svg(src_pieces, tgt_pieces, weights, "line 3, layer 2, heads averaged");
//   data::write_file_atomic("attention/line-3.svg", svg);
#pragma once

#include <string>
#include <vector>

namespace attend {

// weights: (target, source) row-major, target.size() * source.size() values.
std::string attention_svg(const std::vector<std::string>& source, const std::vector<std::string>& target,
                          const std::vector<float>& weights, const std::string& caption);

}  // namespace attend

#include "infercast/ir/einsum.hpp"

#include <algorithm>
#include <array>
#include <string>

namespace infercast::ir {
namespace {

// One term: its letters with '.' standing for the whole ellipsis, e.g. "b.ij".
std::optional<std::string> normalize_term(std::string_view term) {
  std::string out;
  bool ellipsis = false;
  for (std::size_t i = 0; i < term.size(); ++i) {
    const char ch = term[i];
    if (ch == ' ') continue;
    if (ch == '.') {
      if (ellipsis || term.substr(i, 3) != "...") return std::nullopt;
      ellipsis = true;
      out += '.';
      i += 2;
      continue;
    }
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))) return std::nullopt;
    out += ch;
  }
  return out;
}

int letter_index(char ch) {
  return ch >= 'a' ? ch - 'a' : 26 + (ch - 'A');
}

}  // namespace

std::optional<EinsumResult> evaluate_einsum(std::string_view equation,
                                            const std::vector<std::vector<std::int64_t>>& input_shapes) {
  const std::size_t arrow = equation.find("->");
  const std::string_view lhs = equation.substr(0, arrow);
  std::vector<std::string> terms;
  for (std::size_t start = 0;;) {
    const std::size_t comma = lhs.find(',', start);
    auto term = normalize_term(lhs.substr(start, comma == std::string_view::npos ? lhs.npos : comma - start));
    if (!term) return std::nullopt;
    terms.push_back(std::move(*term));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (terms.size() != input_shapes.size()) return std::nullopt;

  std::array<std::int64_t, 52> extent;
  extent.fill(-1);
  std::array<int, 52> uses{};
  std::vector<std::int64_t> ellipsis;  // broadcast over all operands, right-aligned
  for (std::size_t t = 0; t < terms.size(); ++t) {
    const std::string& term = terms[t];
    const auto& shape = input_shapes[t];
    const std::size_t letters =
        static_cast<std::size_t>(std::count_if(term.begin(), term.end(), [](char c) { return c != '.'; }));
    const bool has_ellipsis = term.find('.') != std::string::npos;
    if (has_ellipsis ? shape.size() < letters : shape.size() != letters) return std::nullopt;
    const std::size_t ellipsis_rank = shape.size() - letters;
    std::size_t dim = 0;
    for (const char ch : term) {
      if (ch == '.') {
        std::vector<std::int64_t> here(shape.begin() + static_cast<std::ptrdiff_t>(dim),
                                       shape.begin() + static_cast<std::ptrdiff_t>(dim + ellipsis_rank));
        if (here.size() > ellipsis.size()) ellipsis.insert(ellipsis.begin(), here.size() - ellipsis.size(), 1);
        const std::size_t offset = ellipsis.size() - here.size();
        for (std::size_t k = 0; k < here.size(); ++k) {
          std::int64_t& e = ellipsis[offset + k];
          if (here[k] != e && here[k] != 1 && e != 1) return std::nullopt;
          e = std::max(e, here[k]);
        }
        dim += ellipsis_rank;
        continue;
      }
      const std::int64_t d = shape[dim++];
      if (d < 0) return std::nullopt;
      std::int64_t& e = extent[static_cast<std::size_t>(letter_index(ch))];
      if (e >= 0 && e != d && e != 1 && d != 1) return std::nullopt;
      e = std::max(e, d);
      ++uses[static_cast<std::size_t>(letter_index(ch))];
    }
  }

  std::string output;
  if (arrow != std::string_view::npos) {
    auto term = normalize_term(equation.substr(arrow + 2));
    if (!term) return std::nullopt;
    output = std::move(*term);
  } else {
    output = ".";  // implicit mode: ellipsis dims first, then letters used once, sorted
    for (int i = 0; i < 52; ++i) {
      if (uses[static_cast<std::size_t>(i)] == 1) output += static_cast<char>(i < 26 ? 'a' + i : 'A' + (i - 26));
    }
    // Uppercase sorts before lowercase in ASCII, as numpy orders them.
    std::stable_sort(output.begin() + 1, output.end());
  }

  EinsumResult r;
  for (const char ch : output) {
    if (ch == '.') {
      r.output_shape.insert(r.output_shape.end(), ellipsis.begin(), ellipsis.end());
      continue;
    }
    const std::int64_t e = extent[static_cast<std::size_t>(letter_index(ch))];
    if (e < 0) return std::nullopt;  // an output letter no operand has
    r.output_shape.push_back(e);
  }
  r.macs = 1;
  for (const std::int64_t e : extent) {
    if (e >= 0) r.macs *= static_cast<std::uint64_t>(e);
  }
  for (const std::int64_t e : ellipsis) r.macs *= static_cast<std::uint64_t>(e);
  return r;
}

std::optional<BatchedMatmul> einsum_batched_matmul(std::string_view equation,
                                                   const std::vector<std::vector<std::int64_t>>& input_shapes) {
  const std::size_t arrow = equation.find("->");
  if (arrow == std::string_view::npos || input_shapes.size() != 2) return std::nullopt;
  const std::string_view lhs = equation.substr(0, arrow);
  const std::size_t comma = lhs.find(',');
  if (comma == std::string_view::npos || lhs.find(',', comma + 1) != std::string_view::npos) return std::nullopt;
  const auto a = normalize_term(lhs.substr(0, comma));
  const auto b = normalize_term(lhs.substr(comma + 1));
  const auto y = normalize_term(equation.substr(arrow + 2));
  if (!a || !b || !y) return std::nullopt;
  const std::size_t rank = a->size();
  if (rank < 3 || b->size() != rank || y->size() != rank || input_shapes[0].size() != rank ||
      input_shapes[1].size() != rank)
    return std::nullopt;
  if (a->find('.') != std::string::npos || b->find('.') != std::string::npos || y->find('.') != std::string::npos)
    return std::nullopt;
  // Every letter once per term, so a repeated one (a trace, a diagonal) is no product.
  for (const std::string* term : {&*a, &*b, &*y}) {
    std::array<int, 52> seen{};
    for (const char ch : *term)
      if (seen[static_cast<std::size_t>(letter_index(ch))]++ != 0) return std::nullopt;
  }
  const std::size_t lead = rank - 2;
  BatchedMatmul r;
  for (std::size_t d = 0; d < lead; ++d) {
    if ((*a)[d] != (*y)[d] || (*b)[d] != (*y)[d] || input_shapes[0][d] != input_shapes[1][d] || input_shapes[0][d] < 1)
      return std::nullopt;
    r.batch *= input_shapes[0][d];
  }
  const char i = (*a)[lead], k = (*a)[lead + 1], j = (*y)[lead + 1];
  if ((*y)[lead] != i || j == k || j == i) return std::nullopt;
  const auto& sa = input_shapes[0];
  const auto& sb = input_shapes[1];
  if ((*b)[lead] == j && (*b)[lead + 1] == k) {
    r.transposed_b = true;
    if (sb[lead + 1] != sa[lead + 1]) return std::nullopt;
    r.n = sb[lead];
  } else if ((*b)[lead] == k && (*b)[lead + 1] == j) {
    if (sb[lead] != sa[lead + 1]) return std::nullopt;
    r.n = sb[lead + 1];
  } else {
    return std::nullopt;
  }
  r.m = sa[lead];
  r.k = sa[lead + 1];
  if (r.m < 1 || r.k < 1 || r.n < 1) return std::nullopt;
  return r;
}

}  // namespace infercast::ir

#include "infercast/ir/permutation.hpp"

#include <algorithm>
#include <numeric>

namespace infercast::ir {

bool Permutation::is_matrix_transpose() const {
  return perm == std::vector<std::int64_t>{1, 0};
}

std::optional<Permutation> reduce_permutation(const std::vector<std::int64_t>& dims, std::vector<std::int64_t> perm) {
  const std::size_t rank = dims.size();
  if (perm.empty()) {
    perm.resize(rank);
    std::iota(perm.rbegin(), perm.rend(), std::int64_t{0});
  }
  if (perm.size() != rank) return std::nullopt;
  std::vector<bool> seen(rank, false);
  for (std::int64_t p : perm) {
    if (p < 0 || p >= static_cast<std::int64_t>(rank) || seen[static_cast<std::size_t>(p)]) return std::nullopt;
    seen[static_cast<std::size_t>(p)] = true;
  }
  if (std::any_of(dims.begin(), dims.end(), [](std::int64_t d) { return d < 0; })) return std::nullopt;
  // Groups of input axes in output order: a group grows while the next output axis is
  // the input axis after the group's last (axes of extent 1 skipped on both sides).
  struct Group {
    std::int64_t first = 0, extent = 1;
  };
  std::vector<Group> groups;
  std::int64_t last = -2;
  for (std::int64_t p : perm) {
    const std::int64_t d = dims[static_cast<std::size_t>(p)];
    if (d == 1) continue;
    bool follows = !groups.empty();
    for (std::int64_t a = last + 1; follows && a < p; ++a) follows = dims[static_cast<std::size_t>(a)] == 1;
    if (!(follows && p > last)) groups.push_back({p, 1});
    groups.back().extent *= d;
    last = p;
  }
  // Number the groups in input order.
  std::vector<std::size_t> by_input(groups.size());
  std::iota(by_input.begin(), by_input.end(), std::size_t{0});
  std::sort(by_input.begin(), by_input.end(),
            [&](std::size_t a, std::size_t b) { return groups[a].first < groups[b].first; });
  Permutation r;
  r.perm.resize(groups.size());
  for (std::size_t i = 0; i < by_input.size(); ++i) {
    r.dims.push_back(groups[by_input[i]].extent);
    r.perm[by_input[i]] = static_cast<std::int64_t>(i);
  }
  return r;
}

}  // namespace infercast::ir
